"""The demo's cloud-sync: a `cloud-sync serve` process with a fresh fleet key, the gateway provisioned."""

from __future__ import annotations

import io
import json
import os
import secrets
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from edge_agent.demo.devbroker import free_port
from edge_agent.errors import EdgeAgentError


@dataclass
class DemoCloud:
    """A running cloud-sync and what the gateway needs to talk to it."""

    process: subprocess.Popen[bytes]
    url: str
    admin_token: str
    device_token_file: Path
    fleet_public_key: Path

    def request(
        self, method: str, path: str, body: bytes | None = None, content_type: str = "application/json"
    ) -> dict:
        """An admin API call."""
        headers = {"Authorization": f"Bearer {self.admin_token}", "Content-Type": content_type}
        request = urllib.request.Request(self.url + path, data=body, method=method, headers=headers)
        with urllib.request.urlopen(request, timeout=30) as response:
            data = response.read()
        return json.loads(data) if data else {}

    def publish(self, package: Path) -> None:
        """Upload a package directory (NAME/VERSION) to the registry."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            tar.add(package, arcname=f"{package.parent.name}/{package.name}")
        try:
            self.request("POST", "/api/v1/models", buffer.getvalue(), "application/x-tar")
        except urllib.error.HTTPError as exc:
            if exc.code != 409:  # already there
                raise

    def stop(self) -> None:
        """Stop the service."""
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_cloud(state_dir: Path, device_id: str, group: str) -> DemoCloud:
    """Start cloud-sync on a free port, provision the gateway and return how to reach it."""
    binary = Path(sys.executable).with_name("cloud-sync")
    if not binary.exists():
        raise EdgeAgentError(f"{binary} not found: install the package with its cloud extra")
    state_dir.mkdir(parents=True, exist_ok=True)
    key = state_dir / "fleet-signing.key"
    subprocess.run([str(binary), "keygen", "--out", str(key)], check=True, capture_output=True)
    port = free_port()
    token = secrets.token_urlsafe(24)
    env = {
        **os.environ,
        "CLOUD_SYNC_STATE_DIR": str(state_dir),
        "CLOUD_SYNC_SIGNING_KEY_PATH": str(key),
        "CLOUD_SYNC_ADMIN_TOKEN": token,
        "CLOUD_SYNC_PORT": str(port),
    }
    log = (state_dir / "cloud-sync.log").open("ab")
    process = subprocess.Popen([str(binary), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url + "/livez", timeout=1):
                break
        except OSError as exc:
            if process.poll() is not None or time.monotonic() > deadline:
                raise EdgeAgentError(f"cloud-sync did not start (log: {state_dir / 'cloud-sync.log'})") from exc
            time.sleep(0.2)
    cloud = DemoCloud(process, url, token, state_dir / "device-token", key.with_suffix(".pub"))
    answer = cloud.request("POST", "/api/v1/devices", json.dumps({"id": device_id, "group": group}).encode())
    cloud.device_token_file.write_text(str(answer["token"]))
    cloud.device_token_file.chmod(0o600)
    return cloud

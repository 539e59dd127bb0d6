"""Given an update in progress, when the gateway process is killed -9 at any instant, it restarts on a whole model."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from edge_agent.ota.install import set_pointer
from tests.builders import DEV_PUBLIC_KEY, build_tiny_package, package_tar

NAME = "tiny-health"
CHUNK = 2048
CHUNK_DELAY_S = 0.004


class _CloudHandler(BaseHTTPRequestHandler):
    """desired, a slow artifact with Range, and reports."""

    server: Any

    def log_message(self, *args: object) -> None:
        return None

    def do_GET(self) -> None:
        if self.path.endswith("/desired"):
            self._send(200, json.dumps({"models": [self.server.offer]}).encode())
            return
        artifact: bytes = self.server.artifact
        start = 0
        match = re.match(r"bytes=(\d+)-", self.headers.get("Range", ""))
        if match:
            start = int(match.group(1))
        self.send_response(206 if match else 200)
        if match:
            self.send_header("Content-Range", f"bytes {start}-{len(artifact) - 1}/{len(artifact)}")
        self.send_header("Content-Length", str(len(artifact) - start))
        self.end_headers()
        try:
            for offset in range(start, len(artifact), CHUNK):
                self.wfile.write(artifact[offset : offset + CHUNK])
                self.wfile.flush()
                time.sleep(CHUNK_DELAY_S)
        except (BrokenPipeError, ConnectionResetError):
            return

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.server.reports.append(json.loads(self.rfile.read(length)))
        self._send(204, b"")

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadingHTTPServer]:
    build_dir = tmp_path_factory.mktemp("build")
    artifact = package_tar(build_tiny_package(build_dir, "1.1.0"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CloudHandler)
    server.artifact = artifact  # type: ignore[attr-defined]
    server.reports = []  # type: ignore[attr-defined]
    server.offer = {  # type: ignore[attr-defined]
        "name": NAME,
        "version": "1.1.0",
        "artifact_url": "/api/v1/models/tiny-health/1.1.0/artifact",
        "artifact_sha256": hashlib.sha256(artifact).hexdigest(),
        "artifact_size": len(artifact),
        "probation_s": 0.3,
    }
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    models_dir = tmp_path_factory.mktemp("template") / "models"
    build_tiny_package(models_dir, "1.0.0")
    set_pointer(models_dir, NAME, "1.0.0")
    return models_dir


def _start(models_dir: Path, cloud: ThreadingHTTPServer, crash_after: str = "") -> subprocess.Popen[str]:
    url = f"http://127.0.0.1:{cloud.server_address[1]}"
    env = {**os.environ, "OTA_CRASH_AFTER": crash_after}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.edge_agent.ota.ota_child", str(models_dir), url, str(DEV_PUBLIC_KEY), NAME],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )


def _loaded(process: subprocess.Popen[str]) -> dict[str, Any]:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line, "the gateway process died before loading a model"
    document = json.loads(line)
    assert document["event"] == "loaded"
    return document


def _state(models_dir: Path) -> str:
    try:
        return str(json.loads((models_dir / ".ota" / "state.json").read_text())["offers"][NAME]["state"])
    except (OSError, ValueError, KeyError):
        return ""


def _assert_whole_restart(models_dir: Path, cloud: ThreadingHTTPServer) -> str:
    """Restart after a kill: a whole version loads (self-test passed), no stale files, and the update finishes."""
    process = _start(models_dir, cloud)
    try:
        loaded = _loaded(process)
        assert loaded["version"] in ("1.0.0", "1.1.0")
        assert loaded["staging"] == []
        assert all(p.endswith(".tar.part") for p in loaded["leftovers"]), loaded["leftovers"]
        assert process.stdout is not None
        done = json.loads(process.stdout.readline())
        assert done == {"event": "done", "state": "committed", "reason": ""} or done["state"] == "committed"
    finally:
        process.kill()
        process.wait()
    return str(loaded["version"])


@pytest.mark.parametrize("target", ["downloading", "verifying", "staged", "selftest", "active", "probation"])
def test_kill_at_every_ota_state(tmp_path: Path, template: Path, cloud: ThreadingHTTPServer, target: str) -> None:
    models_dir = tmp_path / "models"
    shutil.copytree(template, models_dir, symlinks=True)
    process = _start(models_dir, cloud, crash_after=target)
    _loaded(process)
    assert process.wait(30) == -9  # it died by SIGKILL right after persisting `target`
    assert _state(models_dir) == target
    version = _assert_whole_restart(models_dir, cloud)
    assert version == ("1.1.0" if target in ("active", "probation") else "1.0.0")


def test_kill_at_fifty_random_instants_during_download_and_activation(
    tmp_path: Path, template: Path, cloud: ThreadingHTTPServer
) -> None:
    # measure how long a full update takes here, then kill uniformly inside that window
    models_dir = tmp_path / "probe"
    shutil.copytree(template, models_dir, symlinks=True)
    process = _start(models_dir, cloud)
    _loaded(process)
    started = time.monotonic()
    assert process.stdout is not None
    process.stdout.readline()
    window = time.monotonic() - started
    process.wait()
    rng = random.Random(50)
    seen = {"1.0.0": 0, "1.1.0": 0}
    for attempt in range(50):
        models_dir = tmp_path / f"gw-{attempt}"
        shutil.copytree(template, models_dir, symlinks=True)
        process = _start(models_dir, cloud)
        _loaded(process)
        time.sleep(rng.uniform(0, window))
        process.kill()
        process.wait()
        seen[_assert_whole_restart(models_dir, cloud)] += 1
        shutil.rmtree(models_dir)
    assert seen["1.0.0"] > 0  # some kills landed before activation, the rest after

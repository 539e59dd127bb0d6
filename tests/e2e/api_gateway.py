"""A running agent serving the Open Inference Protocol, for the API end-to-end tests and bench/api.py."""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_agent.demo.demo import demo_config
from edge_agent.demo.devbroker import DevBroker, free_port
from edge_agent.ota.install import set_pointer
from tests.e2e.agent_process import AgentProcess

REPO = Path(__file__).resolve().parents[2]
KEYS = REPO / "models" / "keys"
TOKEN = "plant-mes-token-0123456789"


@dataclass
class Gateway:
    """Where a served agent listens, and the token its clients send."""

    agent: AgentProcess
    broker: DevBroker
    models: Path
    http: str
    grpc: str
    web: str
    token: str | None
    ns: str

    @property
    def headers(self) -> dict[str, str]:
        """The authorization header clients send."""
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    @property
    def grpc_headers(self) -> dict[str, str]:
        """The same as gRPC metadata (whose keys are lower case)."""
        return {k.lower(): v for k, v in self.headers.items()}

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """Status and JSON (or text) of a GET on the API."""
        sent = self.headers if headers is None else headers
        request = urllib.request.Request(f"http://{self.http}{path}", headers=sent)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def metrics(self) -> str:
        """The status page's /metrics text."""
        with urllib.request.urlopen(f"{self.web}/metrics", timeout=10) as response:
            return response.read().decode()

    def stop(self) -> None:
        """Stop the agent, then the broker."""
        self.agent.stop()
        self.broker.stop()


def start_gateway(tmp: Path, token: str | None = TOKEN, api: dict[str, Any] | None = None) -> Gateway:
    """Broker + `edge-agent run` with surface-inspection 1.0.0 (previous), 1.1.0 (current) and 1.3.0 (installed, with
    test-time views, served when a request pins it) and bearing-health."""
    models = tmp / "models"
    packages = (
        ("surface-inspection", "1.0.0"),
        ("surface-inspection", "1.1.0"),
        ("surface-inspection", "1.3.0"),
        ("bearing-health", "1.1.0"),
    )
    for name, version in packages:
        shutil.copytree(REPO / "models" / name / version, models / name / version)
    set_pointer(models, "surface-inspection", "1.0.0", "previous")
    set_pointer(models, "surface-inspection", "1.1.0")
    broker = DevBroker(workdir=tmp / "broker")
    (tmp / "broker").mkdir()
    broker.start()
    http_port, grpc_port, web_port = free_port(), free_port(), free_port()
    config = demo_config(broker.port, tmp / "state", models, KEYS, web_port=web_port, api_ports=(http_port, grpc_port))
    config["cameras"] = [{"id": "cam-1", "model": "surface-inspection"}]
    config["api"].update(api or {})
    if token:
        (tmp / "api-token").write_text(token + "\n")
        config["api"]["token_file"] = str(tmp / "api-token")
    agent = AgentProcess(config, tmp).start()
    ns = f"factory/v1/{config['gateway']['site']}/{config['gateway']['line']}"
    gateway = Gateway(
        agent,
        broker,
        models,
        f"127.0.0.1:{http_port}",
        f"127.0.0.1:{grpc_port}",
        f"http://127.0.0.1:{web_port}",
        token,
        ns,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if gateway.get("/v2/health/ready")[0] == 200:
                return gateway
        except OSError:
            pass
        if time.monotonic() > deadline or not agent.alive():
            gateway.stop()
            raise RuntimeError(f"the agent's API did not become ready:\n{agent.log()}")
        time.sleep(0.2)

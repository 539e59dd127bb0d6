"""Given `edge-agent run` with MQTT in and uploads to a real cloud-sync, 100 kill -9 lose and duplicate nothing."""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask import Flask
from sqlmodel import Session, select

from cloud_sync.context import services
from cloud_sync.tables import Telemetry
from edge_agent.demo.devbroker import DevBroker
from models.training.surfaces import generate_surface
from tests.e2e.agent_process import AgentProcess
from tests.e2e.cloud_server import serve_cloud
from tests.mqtt_probe import Probe

NS = "factory/v1/demo-plant/line-1"
ADMIN_TOKEN = "kill9-e2e-admin-token-0123456789abcdef"
KILLS = 100


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[tuple[Flask, str, Path]]:
    yield from serve_cloud(tmp_path, ADMIN_TOKEN)


class Camera(threading.Thread):
    """A line camera: a frame with its own part id at a steady rate, whether or not anyone listens."""

    def __init__(self, port: int, fps: float) -> None:
        super().__init__(daemon=True)
        self.client = Probe(port, "line-camera", [])
        self.period, self.sent = 1.0 / fps, 0
        self.frame = generate_surface(np.random.default_rng(9), "ok", 256).jpeg
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(self.period):
            self.client.publish(f"{NS}/cam/cam-1/frame", self.frame, {"part_id": f"K{self.sent}"})
            self.sent += 1


def _cloud_results(app: Flask) -> list[tuple[str, int, str | None]]:
    """(stream, seq, part id) of every inspection result cloud-sync stored for the gateway."""
    with app.app_context(), Session(services().engine) as db:
        rows = db.exec(
            select(Telemetry.stream, Telemetry.seq, Telemetry.part_id).where(
                Telemetry.device_id == "gw-1", Telemetry.stream == "inspection/cam-1"
            )
        ).all()
    return [(stream, int(seq), part) for stream, seq, part in rows]


def _outbox_count(path: Path) -> int:
    if not path.exists():
        return -1
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
        return int(db.execute("SELECT COUNT(*) FROM records").fetchone()[0])


def _agent_config(base: dict[str, Any], url: str, token_file: Path, models: Path) -> dict[str, Any]:
    # one camera and no assets: a start takes a second, so a hundred kills fit in the suite's budget. The packages
    # are copied: an agent that talks to a cloud manages its models folder (pointers), which must not be the repo's
    shutil.copytree(Path(base["models"]["dir"]) / "surface-inspection", models / "surface-inspection", symlinks=True)
    return base | {
        "models": {**base["models"], "dir": str(models)},
        "gateway": {"id": "gw-1", "site": "demo-plant", "line": "line-1"},
        "cameras": [{"id": "cam-1", "model": "surface-inspection"}],
        "assets": [],
        "api": {"enabled": False},
        "cloud": {"url": url, "token_file": str(token_file), "poll_s": 60},
        "outbox": {**base["outbox"], "upload_share_when_busy": 1.0},
    }


@pytest.mark.slow
def test_every_published_result_reaches_the_cloud_once_across_100_kill_9_of_the_whole_agent(
    agent_config: dict[str, Any], tmp_path: Path, broker: DevBroker, cloud: tuple[Flask, str, Path]
) -> None:
    # Given the agent (MQTT in, inference, outbox, uploads to a real cloud-sync), a line camera, and a historian
    app, url, _ = cloud
    answer = app.test_client().post(
        "/api/v1/devices", json={"id": "gw-1", "group": "line-1"}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    token_file = tmp_path / "device-token"
    token_file.write_text(answer.get_json()["token"])
    config = _agent_config(agent_config, url, token_file, tmp_path / "models")
    historian = Probe(broker.port, "plant-historian", [f"{NS}/inspection/#"], persistent=True)
    camera = Camera(broker.port, fps=25)
    camera.start()
    rng = random.Random(15)
    uploaded_between_kills = 0
    agent = AgentProcess(config, tmp_path)
    try:
        # When the whole agent is killed with SIGKILL at a random instant, a hundred times, and restarted each time
        for round_ in range(KILLS):
            connected_before = agent.log_path.read_text().count("MQTT connected") if agent.log_path.exists() else 0
            agent.start()
            if round_ % 10 == 9:
                # every tenth kill comes while the agent is surely serving and uploading, however slow its start
                deadline = time.monotonic() + 30
                while agent.log_path.read_text().count("MQTT connected") <= connected_before:
                    assert time.monotonic() < deadline and agent.alive(), agent.log()
                    time.sleep(0.05)
                time.sleep(rng.uniform(0.5, 1.5))
            else:
                time.sleep(rng.uniform(0.2, 1.6))
            assert agent.process is not None and agent.process.poll() is None, agent.log()
            agent.process.kill()
            agent.process.wait(10)
            uploaded_between_kills = max(uploaded_between_kills, len(_cloud_results(app)))
        camera.halt.set()
        camera.join()
        # and once it runs again, until its outbox is empty
        agent.start()
        deadline = time.monotonic() + 90
        while _outbox_count(Path(config["outbox"]["path"])) != 0 or not _seen(historian):
            assert time.monotonic() < deadline and agent.alive(), agent.log()
            time.sleep(0.5)
        time.sleep(1.0)
    finally:
        camera.halt.set()
        camera.client.close()
        if agent.alive():
            assert agent.stop() == 0, agent.log()
        historian.close()
    # Then every result a subscriber saw is in the cloud, and no result is stored twice
    seen = _seen(historian)
    stored = _cloud_results(app)
    parts = [part for _, _, part in stored]
    assert len(seen) > 200 and uploaded_between_kills > 0, f"too little happened: {len(seen)} results seen"
    assert not seen - set(parts), f"{len(seen - set(parts))} published results never reached the cloud"
    assert len(parts) == len(set(parts)), f"{len(parts) - len(set(parts))} results stored twice"
    print(f"{KILLS} kill -9 of edge-agent run: {len(seen)} results published, {len(stored)} in the cloud")


def _seen(historian: Probe) -> set[str]:
    return {json.loads(m.payload)["part_id"] for m in historian.on(f"{NS}/inspection/cam-1/result")}

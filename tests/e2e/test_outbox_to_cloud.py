"""The gateway's real outbox and uploader against cloud-sync over HTTP: outages lose nothing; the drain rate."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from sqlmodel import Session, select
from werkzeug.serving import BaseWSGIServer, make_server

from cloud_sync.app import create_app, dispose
from cloud_sync.context import services
from cloud_sync.settings import Settings
from cloud_sync.tables import Sample, Telemetry
from edge_agent.ota.http import UrllibTransport
from edge_agent.outbox.capture import RecentInput, sample_document
from edge_agent.outbox.store import Outbox
from edge_agent.outbox.uploader import Uploader, UploaderSettings, drain_rate
from tests.cloud_sync.pg import free_port

ADMIN_TOKEN = "outbox-e2e-admin-token-0123456789"
MODEL = {"name": "surface-inspection", "version": "1.0.0", "sha256": "ab" * 32}
Key = tuple[str, str, int]


class Cloud:
    """cloud-sync on one fixed port that can be stopped and started again, and can lose batch replies."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.lose_replies = 0
        self.duplicates = 0
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not environ["PATH_INFO"].endswith("/batches"):
            return self.app(environ, start_response)
        answered: list[Any] = []

        def keep(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], object]:
            answered.append((status, headers))
            return lambda data: None

        result = self.app(environ, keep)
        body = b"".join(result)
        if answered[0][0].startswith("200"):
            if self.lose_replies > 0:
                # stored, but the answer never reaches the gateway: the connection drops
                self.lose_replies -= 1
                environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
            self.duplicates += json.loads(body)["duplicates"]
        start_response(*answered[0])
        return [body]

    def start(self) -> None:
        """Listen (again) on the same port."""
        self._server = make_server("127.0.0.1", self.port, self, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening: the gateway's connections are refused until start()."""
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(10)
            self._server = None

    def keys(self) -> list[Key]:
        """Every (device, stream, seq) stored, one entry per row."""
        with self.app.app_context(), Session(services().engine) as db:
            rows = db.exec(select(Telemetry.device_id, Telemetry.stream, Telemetry.seq)).all()
            return [(device, stream, int(seq)) for device, stream, seq in rows]

    def sample_count(self) -> int:
        """Sample rows stored."""
        with self.app.app_context(), Session(services().engine) as db:
            return len(db.exec(select(Sample.id)).all())


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[tuple[Cloud, str]]:
    """A running cloud-sync (SQLite in tmp_path) and the token of device gw-1."""
    key_path = tmp_path / "fleet.key"
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    key_path.write_bytes(pem)
    key_path.chmod(0o600)
    settings = {
        "state_dir": tmp_path / "cloud",
        "database_url": f"sqlite:///{tmp_path / 'cloud.db'}",
        "signing_key_path": key_path,
        "admin_token": ADMIN_TOKEN,
    }
    app = create_app(Settings.model_validate(settings))
    answer = app.test_client().post(
        "/api/v1/devices", json={"id": "gw-1", "group": "line-1"}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    server = Cloud(app)
    server.start()
    yield server, answer.get_json()["token"]
    server.stop()
    dispose(app)


def _records(cycle: int, count: int) -> Iterator[tuple[str, str, bytes]]:
    """What a running line writes: results, health, events, labels, and now and then a hard example."""
    for i in range(count):
        ts_ms = 1_700_000_000_000 + cycle * 100_000 + i
        if i % 50 == 0:
            payload = hashlib.sha256(f"{cycle}-{i}".encode()).digest() * 512  # 16 KiB "frame"
            entry = RecentInput("cam-1", f"P{cycle}-{i}", ts_ms, MODEL, "scratch", {"ok": 0.4}, payload, "image/jpeg")
            document = {**sample_document(entry, "low_margin"), "payload_b64": base64.b64encode(payload).decode()}
            yield "samples/cam-1", "sample", json.dumps(document).encode()
        elif i % 10 == 0:
            yield "events", "event", json.dumps({"ts_ms": ts_ms, "type": "queue_drop", "gateway": "gw-1"}).encode()
        elif i % 10 == 1:
            label = {"source": "cam-1", "label": "ok", "part_id": f"P{cycle}-{i - 1}", "ts_ms": ts_ms, "origin": "plc"}
            yield "labels/cam-1", "event", json.dumps(label).encode()
        elif i % 3 == 0:
            health = {"ts_ms": ts_ms, "asset": "pump-1", "state": "healthy", "anomaly_score": 0.1, "model": MODEL}
            yield (
                "health/pump-1",
                "health",
                json.dumps({**health, "features": {f"f{k}": 0.5 for k in range(35)}}).encode(),
            )
        else:
            verdict = "ng" if i % 7 == 0 else "ok"
            result = {"ts_ms": ts_ms, "part_id": f"P{cycle}-{i}", "verdict": verdict, "label": verdict, "model": MODEL}
            yield "inspection/cam-1", "ng_result" if verdict == "ng" else "ok_result", json.dumps(result).encode()


def _append(outbox: Outbox, cycle: int, count: int) -> set[Key]:
    futures = [(stream, outbox.append(stream, priority, body)) for stream, priority, body in _records(cycle, count)]
    produced = set()
    for stream, future in futures:
        seq = future.result(10)
        assert seq is not None, "the outbox budget dropped a record"
        produced.add(("gw-1", stream, seq))
    return produced


def _uploader(outbox: Outbox, cloud: Cloud, token: str, max_records: int) -> Uploader:
    settings = UploaderSettings(cloud.url, "gw-1", token, max_records=max_records, idle_s=0.02, backoff_max_s=0.1)
    return Uploader(outbox, UrllibTransport(), settings)


def test_six_cloud_outages_while_records_are_appended_lose_and_duplicate_nothing(
    cloud: tuple[Cloud, str], tmp_path: Path
) -> None:
    server, token = cloud
    outbox = Outbox(tmp_path / "outbox.db", budget_bytes=256 * 1024 * 1024, commit_interval_s=0.005)
    uploader = _uploader(outbox, server, token, max_records=200)
    thread = threading.Thread(target=uploader.run, daemon=True)
    thread.start()
    produced: set[Key] = set()
    try:
        for cycle in range(6):
            # given the cloud goes away for a while (longer than the uploader's first back-off) as the line writes
            server.stop()
            for chunk in range(3):
                produced |= _append(outbox, cycle * 10 + chunk, 100)
                time.sleep(0.4)
            # when it comes back (in cycle 2 the first two answers are lost after the batches were stored)
            server.lose_replies = 2 if cycle == 2 else 0
            server.start()
            for chunk in range(2):
                produced |= _append(outbox, 1000 + cycle * 10 + chunk, 100)
                time.sleep(0.6)
        deadline = time.monotonic() + 60
        while outbox.count and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        uploader.stop()
        thread.join(10)
        outbox.close()
    # then the outbox is empty, and the cloud holds exactly what was produced, each record once
    stored = server.keys()
    assert outbox.count == 0
    assert len(stored) == len(set(stored)), "a record was stored twice"
    assert set(stored) == produced
    assert server.sample_count() == sum(1 for _, stream, _ in produced if stream.startswith("samples/"))
    # and the outages and lost answers really happened: the gateway retried, the cloud deduplicated
    assert uploader.failures >= 6 and server.lose_replies == 0 and server.duplicates > 0
    print(f"{len(produced)} records over 6 outages; {uploader.failures} failed uploads, {server.duplicates} replays")


def test_the_outbox_drains_to_a_local_cloud_sync_at_a_measured_rate(cloud: tuple[Cloud, str], tmp_path: Path) -> None:
    server, token = cloud
    # given a gateway that was offline for a while: 20000 records in its outbox (2% hard examples of 16 KiB)
    outbox = Outbox(tmp_path / "outbox.db", budget_bytes=512 * 1024 * 1024, commit_interval_s=0.005)
    produced = set()
    for cycle in range(10):
        produced |= _append(outbox, cycle, 2000)
    size = outbox.bytes
    # when its uploader drains it in batches of 1000 records (the agent's default)
    uploader = _uploader(outbox, server, token, max_records=1000)
    started = time.perf_counter()
    rate = drain_rate(outbox, uploader, timeout=300)
    elapsed = time.perf_counter() - started
    outbox.close()
    # then everything arrived; the rate is printed, not asserted
    assert set(server.keys()) == produced
    print(
        f"outbox drained {len(produced)} records ({size / 2**20:.1f} MiB) to a local cloud-sync (SQLite) "
        f"in {elapsed:.1f} s: {rate:.0f} records/s, {size / 2**20 / elapsed:.1f} MiB/s"
    )

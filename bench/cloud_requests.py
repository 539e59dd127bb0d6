"""CPU per request of cloud-sync's gateway endpoints (poll 200 and 304, report, 200-record batch) on real PostgreSQL.

In process (default) the app answers through Flask's test client, so the figure is the app's own CPU (Flask,
SQLAlchemy, psycopg, JSON; no HTTP server) plus the test client's. With --http the same requests go over HTTP,
one after another, to a real `cloud-sync serve --workers 1` (gunicorn gthread), and the replica's process tree CPU
is divided by the requests: the full per-request cost a gateway causes, gunicorn included. --profile adds where
it goes: py-spy on the replica with --http, cProfile in process. Samples are stored in files (state_dir).
Run: python bench/cloud_requests.py [--devices 1000] [--requests 400] [--http] [--profile] [--hard-share 0.02]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import cloud_profile  # noqa: E402  (bench/ is the script's directory)

from cloud_sync.app import create_app, dispose  # noqa: E402
from cloud_sync.cli import main as cli_main  # noqa: E402
from cloud_sync.settings import Settings  # noqa: E402
from tests.cloud_sync.batchtools import health, inspection, sample  # noqa: E402
from tests.cloud_sync.helpers import ADMIN, ADMIN_TOKEN  # noqa: E402
from tests.cloud_sync.pg import PostgresCluster  # noqa: E402
from tests.cloud_sync.pkgtools import MODEL, make_package, tar_dir  # noqa: E402
from tests.cloud_sync.replicas import start, write_config  # noqa: E402


class Fleet:
    """Devices with tokens, a rollout in flight, and the requests a gateway sends."""

    def __init__(self, tokens: dict[str, str], rollout_id: int, offered: list[str], hard_share: float = 0.02) -> None:
        self.tokens, self.rollout_id, self.offered, self.hard_share = tokens, rollout_id, offered, hard_share
        self.devices = sorted(tokens)
        self.etags: dict[str, str] = {}
        self.seq: dict[str, int] = defaultdict(int)
        self.clock = time.time_ns() // 1_000_000
        self.rng = random.Random(3)

    def auth(self, device: str) -> dict[str, str]:
        """Bearer header of the device."""
        return {"Authorization": f"Bearer {self.tokens[device]}"}

    def report_body(self) -> bytes:
        """A new OTA state change (a fresh device timestamp) of the offered version."""
        self.clock += 1
        document = {"name": MODEL, "version": "1.1.0", "state": "downloading", "ts_ms": self.clock}
        return json.dumps({**document, "rollout_id": self.rollout_id}).encode()

    def batch_body(self, device: str, records: int) -> bytes:
        """An outbox batch like bench/fleet.py's: 78% ok, 2% ng, 18% health, 2% hard examples of 2-8 KB."""
        parts = []
        for _ in range(records):
            self.seq[device] += 1
            seq, roll = self.seq[device], self.rng.random()
            if roll < self.hard_share:
                payload = self.rng.randbytes(self.rng.randint(2000, 8000))
                parts.append(sample(seq, payload, self.clock, part_id=f"P{seq}"))
            else:
                parts.append(
                    (inspection(seq, "ok") if roll < 0.8 else inspection(seq, "ng")) if roll < 0.82 else health(seq)
                )
        return json.dumps({"records": parts}).encode()


Send = Callable[[str, str, dict[str, str], bytes | None], tuple[int, dict[str, Any]]]


def _setup(send: Send, devices: int, packages: list[Path]) -> Fleet:
    for package in packages:
        status, _ = send("POST", "/api/v1/models", {**ADMIN, "Content-Type": "application/x-tar"}, tar_dir(package))
        assert status == 201, status
    tokens = {}
    for index in range(devices):
        device = f"gw-{index:04d}"
        body = json.dumps({"id": device, "group": "plants"}).encode()
        status, answer = send("POST", "/api/v1/devices", {**ADMIN, "Content-Type": "application/json"}, body)
        assert status == 201, status
        tokens[device] = answer["token"]
    fleet = Fleet(tokens, 0, [])
    for device in fleet.devices:  # every gateway runs 1.0.0
        body = json.dumps({"name": MODEL, "version": "1.0.0", "state": "committed", "ts_ms": fleet.clock}).encode()
        assert send("POST", f"/api/v1/devices/{device}/report", fleet.auth(device), body)[0] == 204
    spec = {"model": MODEL, "version": "1.1.0", "group": "plants", "canary_percent": 10, "wave_percent": 45}
    status, rollout = send(
        "POST", "/api/v1/rollouts", {**ADMIN, "Content-Type": "application/json"}, json.dumps(spec).encode()
    )
    assert status == 201, status
    fleet.rollout_id = rollout["id"]
    fleet.offered = [row["id"] for row in rollout["devices"] if row["state"] == "offered"]
    return fleet


def _scenarios(
    fleet: Fleet, count: int, batch_records: int
) -> dict[str, Iterator[tuple[str, str, dict[str, str], bytes | None]]]:
    def poll(conditional: bool) -> Iterator[tuple[str, str, dict[str, str], bytes | None]]:
        for index in range(count):
            device = fleet.devices[index % len(fleet.devices)]
            headers = (
                {**fleet.auth(device), "If-None-Match": fleet.etags.get(device, "")}
                if conditional
                else fleet.auth(device)
            )
            yield "GET", f"/api/v1/devices/{device}/desired", headers, None

    def report() -> Iterator[tuple[str, str, dict[str, str], bytes | None]]:
        for index in range(count):
            device = fleet.offered[index % len(fleet.offered)]
            yield (
                "POST",
                f"/api/v1/devices/{device}/report",
                {**fleet.auth(device), "Content-Type": "application/json"},
                fleet.report_body(),
            )

    def batch() -> Iterator[tuple[str, str, dict[str, str], bytes | None]]:
        for index in range(max(1, count // 10)):
            device = fleet.devices[index % len(fleet.devices)]
            body = fleet.batch_body(device, batch_records)
            yield (
                "POST",
                f"/api/v1/devices/{device}/batches",
                {**fleet.auth(device), "Content-Type": "application/json"},
                body,
            )

    return {"poll 200": poll(False), "poll 304": poll(True), "report": report(), f"batch of {batch_records}": batch()}


def _run(send: Send, cpu: Callable[[], float], fleet: Fleet, args: argparse.Namespace, pid: int | None) -> None:
    for name, planned in _scenarios(fleet, args.requests, args.batch_records).items():
        requests = list(planned)  # bodies built before the clock starts: the bench's CPU is not the app's
        profiler = cloud_profile.spied(pid) if pid else cloud_profile.cprofiled()
        with profiler if args.profile else contextlib.nullcontext() as shares:
            wall, used = time.perf_counter(), cpu()
            for method, path, headers, body in requests:
                status, answer = send(method, path, headers, body)
                assert status in (304,) if name == "poll 304" else status in (200, 204), (name, status, answer)
                if name == "poll 200":
                    fleet.etags[path.split("/")[4]] = answer["etag"]
            wall, used = time.perf_counter() - wall, cpu() - used
        cpu_ms = used * 1000 / len(requests)
        print(f"{name:14s} n={len(requests):5d}  CPU {cpu_ms:7.2f} ms/request  {len(requests) / wall:7.1f} requests/s")
        if shares is not None:
            shares.print(name, cpu_ms)


def _test_client_send(app: Any) -> Send:
    client = app.test_client()

    def send(method: str, path: str, headers: dict[str, str], body: bytes | None) -> tuple[int, dict[str, Any]]:
        answer = client.open(path, method=method, headers=headers, data=body)
        document = answer.get_json(silent=True) if answer.status_code != 204 else None
        return answer.status_code, {
            **(document if isinstance(document, dict) else {}),
            "etag": answer.headers.get("ETag", ""),
        }

    return send


def _http_send(client: httpx.Client) -> Send:
    def send(method: str, path: str, headers: dict[str, str], body: bytes | None) -> tuple[int, dict[str, Any]]:
        answer = client.request(method, path, headers=headers, content=body)
        document = answer.json() if answer.headers.get("Content-Type", "").startswith("application/json") else None
        return answer.status_code, {
            **(document if isinstance(document, dict) else {}),
            "etag": answer.headers.get("ETag", ""),
        }

    return send


def _tree_cpu(pid: int) -> float:
    root = psutil.Process(pid)
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        times = process.cpu_times()
        total += times.user + times.system
    return total


def main() -> None:
    """Start PostgreSQL, build a fleet with a rollout in flight, measure each endpoint."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=400, help="per endpoint (batches: a tenth of it)")
    parser.add_argument("--batch-records", type=int, default=200)
    parser.add_argument("--hard-share", type=float, default=0.02, help="share of batch records that are hard examples")
    parser.add_argument("--http", action="store_true", help="through a real gunicorn replica (1 worker) over HTTP")
    parser.add_argument("--profile", action="store_true", help="cProfile each endpoint (in process only)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="cloud-requests-"))
    key = root / "fleet.key"
    cli_main(["keygen", "--out", str(key)])
    cluster = PostgresCluster()
    cluster.start()
    try:
        database = cluster.url(cluster.create_database())
        values = {"database_url": database, "signing_key_path": key, "admin_token": ADMIN_TOKEN}
        values["state_dir"] = root / "state"
        app = create_app(Settings.model_validate(values))
        packages = [make_package(root / "packages", version) for version in ("1.0.0", "1.1.0")]
        fleet = _setup(_test_client_send(app), args.devices, packages)
        fleet.hard_share = args.hard_share
        print(f"cloud requests: {args.devices} devices, rollout of 1.1.0 with {len(fleet.offered)} offered, "
              f"{os.cpu_count()} CPUs, load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")  # fmt: skip
        if not args.http:
            _run(_test_client_send(app), time.process_time, fleet, args, None)
            dispose(app)
            return
        dispose(app)
        config = write_config(root / "cloud-sync.yaml", {**values, "workers": 1, "threads": 8, "jobs": False})
        replica = start(config, root / "replica", level="WARNING")
        try:
            replica.wait_ready()
            with httpx.Client(base_url=replica.url, timeout=60) as client:
                _run(_http_send(client), lambda: _tree_cpu(replica.process.pid), fleet, args, replica.process.pid)
        finally:
            replica.stop()
    finally:
        cluster.stop()
        print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()

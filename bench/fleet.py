"""Fleet simulator: 1,000 gateways (asyncio + httpx, one process) against cloud-sync under gunicorn on PostgreSQL,
with S3 on a moto server: polls every 30 s with jitter, outbox batches, a 3-wave rollout with package downloads,
a failing canary that must pause the next rollout, then a closed-loop burst for capacity.

Prints requests/s, p50/p99 per endpoint, errors, database growth per device-day and CPU per process for each
worker count; asserts nothing. Run: python bench/fleet.py [--gateways 1000] [--workers 1,2,4]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
import psycopg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.cloud_sync.batchtools import health, inspection, sample  # noqa: E402
from tests.cloud_sync.helpers import ADMIN, ADMIN_TOKEN  # noqa: E402
from tests.cloud_sync.pg import PostgresCluster, free_port  # noqa: E402
from tests.cloud_sync.pkgtools import MODEL, make_package, tar_dir  # noqa: E402
from tests.cloud_sync.replicas import Replica, start, write_config  # noqa: E402

S3_ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
GOOD, BAD = "1.1.0", "1.2.0"  # every gateway commits GOOD and rejects BAD (a broken package)


@dataclass
class Stats:
    """Latencies (ms) and errors per endpoint."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)

    async def call(self, client: httpx.AsyncClient, endpoint: str, method: str, url: str, **kw: Any) -> Any:
        """One request, timed; None (and an error counted) when it failed."""
        started = time.perf_counter()
        try:
            if endpoint == "artifact":
                async with client.stream(method, url, **kw) as answer:
                    async for _ in answer.aiter_bytes():
                        pass
            else:
                answer = await client.request(method, url, **kw)
        except httpx.HTTPError as exc:
            self.errors[f"{endpoint}: {type(exc).__name__}"] += 1
            return None
        self.latencies[endpoint].append((time.perf_counter() - started) * 1000)
        if answer.status_code >= 400:
            self.errors[f"{endpoint}: HTTP {answer.status_code}"] += 1
            return None
        return answer


class Gateway:
    """One simulated gateway: desired-state polls, OTA reports and downloads, outbox batches."""

    def __init__(self, device: str, token: str, args: argparse.Namespace, rng: random.Random) -> None:
        self.device, self.args, self.rng = device, args, rng
        self.headers = {"Authorization": f"Bearer {token}"}
        self.running: str | None = None
        self.failed: set[str] = set()
        self.etag = ""
        self.seq = 0

    async def run(self, client: httpx.AsyncClient, stats: Stats, stop: asyncio.Event) -> None:
        """Poll every poll_s (+-20 %), upload a batch every batch_s (+-20 %), until stop."""
        await _sleep(stop, self.rng.uniform(0, self.args.poll_s))
        next_batch = time.monotonic() + self.rng.uniform(0, self.args.batch_s)
        while not stop.is_set():
            await self.poll(client, stats)
            if time.monotonic() >= next_batch:
                await self.upload(client, stats)
                next_batch += self.args.batch_s * self.rng.uniform(0.8, 1.2)
            await _sleep(stop, self.args.poll_s * self.rng.uniform(0.8, 1.2))

    async def poll(self, client: httpx.AsyncClient, stats: Stats) -> None:
        """GET desired (If-None-Match); take a new offer: download, report, commit or reject."""
        path = f"/api/v1/devices/{self.device}/desired"
        answer = await stats.call(client, "desired", "GET", path, headers={**self.headers, "If-None-Match": self.etag})
        if answer is None or answer.status_code == 304:
            return
        self.etag = answer.headers.get("ETag", "")
        for entry in answer.json()["models"]:
            version = entry["version"]
            if entry["rollout_id"] is None or version == self.running or version in self.failed:
                continue
            await self.report(client, stats, version, "downloading", entry["rollout_id"])
            await stats.call(client, "artifact", "GET", entry["artifact_url"], headers=self.headers)
            final = "rejected" if version == BAD else "committed"
            await self.report(client, stats, version, final, entry["rollout_id"])
            if final == "committed":
                self.running = version
            else:
                self.failed.add(version)

    async def report(self, client: httpx.AsyncClient, stats: Stats, version: str, state: str, rollout: int) -> None:
        """POST one OTA state change."""
        body = {"name": MODEL, "version": version, "state": state, "ts_ms": time.time_ns() // 1_000_000}
        if state == "rejected":
            body["reason"] = "selftest failed: outputs differ from selftest.npz"
        path = f"/api/v1/devices/{self.device}/report"
        await stats.call(client, "report", "POST", path, json={**body, "rollout_id": rollout}, headers=self.headers)

    def body(self) -> bytes:
        """One outbox batch as JSON: results and health, hard_share of it hard examples (a few KB each, unique)."""
        parts = []
        stamp = time.time_ns() // 1_000_000
        for _ in range(self.args.batch_records):
            self.seq += 1
            roll = self.rng.random()
            if roll < self.args.hard_share:
                payload = self.rng.randbytes(self.rng.randint(2000, 8000))
                parts.append(json.dumps(sample(self.seq, payload, stamp, part_id=f"P{self.seq}")))
            else:
                # results and health from pre-rendered records (the simulator's CPU is the server's CPU here)
                parts.append(TEMPLATES[0 if roll < 0.78 else 1 if roll < 0.8 else 2] % (self.seq, stamp))
        return ('{"records":[' + ",".join(parts) + "]}").encode()

    async def upload(self, client: httpx.AsyncClient, stats: Stats) -> None:
        """POST one batch; a failed upload is simply sent again next time (the outbox keeps it)."""
        path = f"/api/v1/devices/{self.device}/batches"
        headers = {**self.headers, "Content-Type": "application/json"}
        await stats.call(client, "batch", "POST", path, content=self.body(), headers=headers)


def _template(record: dict[str, Any]) -> str:
    """A record as JSON text with %d where seq and ts_ms go."""
    text = json.dumps({**record, "seq": -111, "ts_ms": -222}, separators=(",", ":"))
    return text.replace("-111", "%d", 1).replace("-222", "%d", 1)


TEMPLATES = [_template(inspection(1, "ok")), _template(inspection(1, "ng")), _template(health(1))]


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


class Processes:
    """CPU seconds of process trees (a replica's master and workers, PostgreSQL, moto, this bench)."""

    def __init__(self, roots: dict[str, int], alone: set[str]) -> None:
        self.roots = roots
        self.alone = alone  # counted without their children (the simulator started the replica and moto)

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far per named tree (children that exited count through the parent's totals)."""
        found = {}
        for name, pid in self.roots.items():
            try:
                root = psutil.Process(pid)
                tree = [root] if name in self.alone else [root, *root.children(recursive=True)]
                reaped = root.cpu_times()
            except psutil.Error:
                continue
            total = 0.0 if name in self.alone else reaped.children_user + reaped.children_system
            for process in tree:
                try:
                    times = process.cpu_times()
                    total += times.user + times.system
                except psutil.Error:
                    continue  # a worker or backend that exited meanwhile
            found[name] = total
        return found


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def _print_stats(title: str, stats: Stats, seconds: float) -> None:
    total = sum(len(v) for v in stats.latencies.values())
    print(f"  {title}: {total / seconds:.1f} requests/s over {seconds:.0f} s, errors: {dict(stats.errors) or 0}")
    for endpoint in sorted(stats.latencies):
        values = stats.latencies[endpoint]
        print(
            f"    {endpoint:9s} n={len(values):6d}  {len(values) / seconds:7.1f}/s  "
            f"p50 {_percentile(values, 50):7.1f} ms  p99 {_percentile(values, 99):7.1f} ms"
        )


async def _admin(client: httpx.AsyncClient, method: str, path: str, **kw: Any) -> Any:
    answer = await client.request(method, f"/api/v1{path}", headers=ADMIN, timeout=120, **kw)
    if answer.status_code >= 400:
        raise RuntimeError(f"{method} {path}: HTTP {answer.status_code} {answer.text[:300]}")
    return answer.json()


async def _provision(client: httpx.AsyncClient, count: int, packages: list[Path]) -> dict[str, str]:
    for package in packages:
        await _admin(client, "POST", "/models", content=tar_dir(package))
    tokens: dict[str, str] = {}

    async def add(device: str) -> None:
        tokens[device] = (await _admin(client, "POST", "/devices", json={"id": device, "group": "plants"}))["token"]

    names = [f"gw-{index:04d}" for index in range(count)]
    for start_at in range(0, count, 50):
        await asyncio.gather(*(add(name) for name in names[start_at : start_at + 50]))
    return tokens


async def _rollout(admin: httpx.AsyncClient, version: str, until: Any, timeout: float) -> tuple[dict[str, Any], float]:
    body = {"model": MODEL, "version": version, "group": "plants", "canary_percent": 10, "wave_percent": 45}
    rollout = await _admin(admin, "POST", "/rollouts", json=body)
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        await asyncio.sleep(2)
        rollout = await _admin(admin, "GET", f"/rollouts/{rollout['id']}")
        if until(rollout):
            break
    return rollout, time.monotonic() - started


async def _burst(client: httpx.AsyncClient, gateways: list[Gateway], seconds: float, concurrency: int) -> Stats:
    """Closed loop: concurrency callers, each polling desired back to back, every 10th call a batch upload."""
    stats = Stats()
    deadline = time.monotonic() + seconds

    async def caller(index: int) -> None:
        count = 0
        while time.monotonic() < deadline:
            gateway = gateways[(index + count * concurrency) % len(gateways)]
            count += 1
            if count % 10 == 0:
                await gateway.upload(client, stats)
            else:
                path = f"/api/v1/devices/{gateway.device}/desired"
                await stats.call(client, "desired", "GET", path, headers=gateway.headers)

    await asyncio.gather(*(caller(index) for index in range(concurrency)))
    return stats


def _db_size(dsn: str) -> int:
    with psycopg.connect(dsn) as connection:
        row = connection.execute("SELECT pg_database_size(current_database())").fetchone()
    return int(row[0]) if row else 0


async def scenario(replica: Replica, dsn: str, args: argparse.Namespace, packages: list[Path], cpu: Processes) -> None:
    """Provision, run the fleet through two rollouts, then burst; print the figures."""
    limits = httpx.Limits(max_connections=args.connections, max_keepalive_connections=args.connections)
    async with (
        httpx.AsyncClient(base_url=replica.url, timeout=60, limits=limits) as client,
        httpx.AsyncClient(base_url=replica.url) as admin,
    ):
        tokens = await _provision(admin, args.gateways, packages)
        rng = random.Random(7)
        gateways = [Gateway(device, token, args, random.Random(rng.random())) for device, token in tokens.items()]
        stats, stop = Stats(), asyncio.Event()
        size_before, cpu_before, started = _db_size(dsn), cpu.cpu(), time.monotonic()
        tasks = [asyncio.create_task(gateway.run(client, stats, stop)) for gateway in gateways]
        await asyncio.sleep(args.poll_s)  # every gateway is polling now
        good, good_s = await _rollout(admin, GOOD, lambda r: r["state"] != "active", args.rollout_timeout_s)
        bad, bad_s = await _rollout(
            admin, BAD, lambda r: r["state"] != "active" or r["current_wave"] > 0, args.poll_s * 3
        )
        stop.set()
        await asyncio.gather(*tasks)
        steady_s, cpu_after, size_after = time.monotonic() - started, cpu.cpu(), _db_size(dsn)
        burst_cpu = cpu.cpu()
        burst = await _burst(client, gateways, args.burst_s, args.connections)
        burst_cpu_after = cpu.cpu()
    device_days = args.gateways * steady_s / 86_400
    print(f"  steady fleet ({args.gateways} gateways, poll {args.poll_s:.0f} s, batch of {args.batch_records} "
          f"every {args.batch_s:.0f} s):")  # fmt: skip
    _print_stats("offered load", stats, steady_s)
    print(f"  rollout {GOOD}: {good['state']} in {good_s:.0f} s, waves {[w['devices'] for w in good['waves']]}, "
          f"counts {good['counts']}")  # fmt: skip
    print(f"  rollout {BAD}: {bad['state']} after {bad_s:.0f} s at wave {bad['current_wave']} "
          f"(canary fails): {bad['reason'][:110]}")  # fmt: skip
    growth = size_after - size_before
    print(f"  database: +{growth / 1e6:.1f} MB in {steady_s:.0f} s = {growth / device_days / 1e6:.2f} MB per "
          f"device-day at {args.batch_records * 86_400 / args.batch_s:.0f} records per device-day")  # fmt: skip
    for name in cpu_after:
        used = cpu_after[name] - cpu_before.get(name, 0.0)
        print(f"  CPU {name:9s} {used / steady_s:5.2f} cores (steady)  "
              f"{(burst_cpu_after[name] - burst_cpu[name]) / args.burst_s:5.2f} cores (burst)")  # fmt: skip
    # the figure that does not depend on how starved the machine was: replica CPU per request served
    steady_n, burst_n = (sum(len(v) for v in s.latencies.values()) for s in (stats, burst))
    steady_ms = (cpu_after.get("replica", 0.0) - cpu_before.get("replica", 0.0)) * 1000 / max(steady_n, 1)
    burst_ms = (burst_cpu_after.get("replica", 0.0) - burst_cpu.get("replica", 0.0)) * 1000 / max(burst_n, 1)
    print(f"  replica CPU per request: {steady_ms:.1f} ms (steady), {burst_ms:.1f} ms (burst); "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    _print_stats(f"burst, {args.connections} callers closed-loop", burst, args.burst_s)


def main() -> None:
    """Parse options, start PostgreSQL and moto once, then one replica per worker count."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gateways", type=int, default=1000)
    parser.add_argument("--workers", default="1,2,4", help="gunicorn worker counts to compare")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker")
    parser.add_argument("--poll-s", type=float, default=30.0)
    parser.add_argument(
        "--batch-s",
        type=float,
        default=200.0,
        help="outbox upload interval per gateway (200 s x 200 records: 1 record/s)",
    )
    parser.add_argument("--batch-records", type=int, default=200)
    parser.add_argument("--hard-share", type=float, default=0.02, help="share of records that are hard examples")
    parser.add_argument("--connections", type=int, default=200, help="HTTP connections the simulator keeps open")
    parser.add_argument("--burst-s", type=float, default=15.0)
    parser.add_argument("--rollout-timeout-s", type=float, default=240.0)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    packages = [make_package(root / "packages", version) for version in ("1.0.0", GOOD, BAD)]
    key = root / "fleet.key"
    subprocess.run(
        [sys.executable, "-m", "cloud_sync.cli", "keygen", "--out", str(key)], check=True, capture_output=True
    )
    cluster = PostgresCluster()
    cluster.start()
    moto_port = free_port()
    moto = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
        env={**os.environ, **S3_ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    print(f"fleet bench: {args.gateways} gateways, {os.cpu_count()} CPUs (shared with whatever else runs here)")
    try:
        for workers in [int(count) for count in args.workers.split(",")]:
            database = cluster.create_database()
            bucket = f"fleet-{workers}"
            time.sleep(1.0)
            httpx.put(f"http://127.0.0.1:{moto_port}/{bucket}")  # CreateBucket; moto accepts any credentials
            config = write_config(
                root / f"cloud-sync-{workers}.yaml",
                {
                    "database_url": cluster.url(database),
                    "storage_url": f"s3://{bucket}/fleet",
                    "s3_endpoint_url": f"http://127.0.0.1:{moto_port}",
                    "s3_region": "us-east-1",
                    "signing_key_path": key,
                    "admin_token": ADMIN_TOKEN,
                    "workers": workers,
                    "threads": args.threads,
                    "jobs": False,
                },
            )
            replica = start(config, root / f"replica-{workers}", S3_ENV, level="WARNING")
            try:
                replica.wait_ready()
                postmaster = int((cluster.root / "data" / "postmaster.pid").read_text().split()[0])
                cpu = Processes({"replica": replica.process.pid, "postgres": postmaster, "moto": moto.pid,
                                 "simulator": os.getpid()}, alone={"simulator"})  # fmt: skip
                print(f"\n== {workers} gunicorn worker(s) x {args.threads} threads ==")
                asyncio.run(scenario(replica, cluster.url(database).replace("+psycopg", ""), args, packages, cpu))
            finally:
                replica.stop()
                cluster.drop_database(database)
    finally:
        moto.terminate()
        moto.wait(timeout=30)
        cluster.stop()


if __name__ == "__main__":
    main()

"""Throughput of cloud-sync from 1 to N gunicorn workers, with wrk (C, Lua) as a load generator that costs little CPU.

Seeds 1,000 devices running 1.0.0 with a rollout of 1.1.0 in flight (100 offered) on a real PostgreSQL (as the tests
start it), samples in files; starts one `cloud-sync serve --workers N` per worker count on that database; then, per
round, per request kind (poll answered 200, poll answered 304, `downloading` report, 200-record batch with 2 % hard
examples, and the steady fleet's mix), runs wrk closed-loop against each replica in turn. Before each run it waits
for the 1-minute load average to fall below --quiet-load (at most --quiet-wait-s). Prints per run and as medians:
requests/s, p50/p99, errors, CPU per request and cores of the replica, PostgreSQL (postmaster and backends) and wrk,
what else the machine ran, the load average, the ratio to 1 worker, and where the limit is. Asserts nothing.
Needs wrk (`make bench-deps`). Run: python bench/fleet_scaling.py [--workers 1,2,4] [--rounds 3] [--seconds 10]
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import wrk_load  # noqa: E402  (bench/ is the script's directory)
from cloud_requests import _setup, _test_client_send  # noqa: E402
from scaling_rounds import Run, print_round_ratios, runs_from_log  # noqa: E402

from cloud_sync.app import create_app, dispose  # noqa: E402
from cloud_sync.cli import main as cli_main  # noqa: E402
from cloud_sync.settings import Settings  # noqa: E402
from tests.cloud_sync.batchtools import health, inspection, sample  # noqa: E402
from tests.cloud_sync.helpers import ADMIN_TOKEN  # noqa: E402
from tests.cloud_sync.pg import PostgresCluster  # noqa: E402
from tests.cloud_sync.pkgtools import MODEL, make_package  # noqa: E402
from tests.cloud_sync.replicas import Replica, start, write_config  # noqa: E402

log = logging.getLogger(__name__)
EXPECTED = {"poll200": {"200"}, "poll304": {"304"}, "report": {"204"}, "batch": {"200"}, "mix": {"200", "204", "304"}}


def _fmt_load(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}" if len(values) > 1 else f"{values[0]:.2f}"


def measure(
    replica: Replica, workers: int, kind: str, base: int, script: Path, postmaster: int, args: argparse.Namespace
) -> tuple[Run, int]:
    """Wait for a quiet machine, run wrk once, account CPU; the run and how many requests wrk sent."""
    load_before, waited = wrk_load.wait_quiet(args.quiet_load, args.quiet_wait_s, args.idle_wait_s)
    before = wrk_load.snapshot(replica.process.pid, postmaster)
    result = wrk_load.run_wrk(
        script, replica.url, kind, base, args.seconds, args.connections, args.wrk_threads, args.per_connection
    )
    after = wrk_load.snapshot(replica.process.pid, postmaster)
    wall = after.wall - before.wall
    used = {name: after.groups[name] - before.groups[name] for name in after.groups}
    used["wrk"] = result.cpu_s
    busy = after.machine_busy - before.machine_busy
    cores = {name: value / wall for name, value in used.items()}
    cores["other"] = max(0.0, busy / wall - sum(cores.values()))
    cores["busy"] = busy / wall
    cores["steal"] = (after.steal - before.steal) / wall
    worker_cores = sorted(
        ((after.workers[pid] - before.workers.get(pid, 0.0)) / wall for pid in after.workers), reverse=True
    )[:workers]
    unexpected = sum(n for status, n in result.statuses.items() if status not in EXPECTED[kind])
    errors = sum(result.errors.values()) + unexpected
    run = Run(
        kind,
        workers,
        result.rate,
        result.p50_ms,
        result.p99_ms,
        errors,
        {name: value * 1000 / max(result.requests, 1) for name, value in used.items()},
        cores,
        worker_cores,
        load_before,
        os.getloadavg()[0],
    )
    print(
        f"  {kind:8s} {workers} worker(s): {run.rate:7.1f}/s  p50 {run.p50_ms:6.1f} ms  p99 {run.p99_ms:7.1f} ms  "
        f"errors {errors}{' ' + str(result.errors) if result.errors else ''}  ms/request replica "
        f"{run.ms['replica']:.2f} postgres {run.ms['postgres']:.2f} wrk {run.ms['wrk']:.3f}  cores replica "
        f"{cores['replica']:.2f} {[round(c, 2) for c in worker_cores]} postgres {cores['postgres']:.2f} wrk "
        f"{cores['wrk']:.2f} other {cores['other']:.2f} busy {cores['busy']:.2f} steal {cores['steal']:.2f}  "
        f"load {load_before:.2f} -> "
        f"{run.load_after:.2f} (waited {waited:.0f} s)",
        flush=True,
    )
    return run, result.requests


def _median(runs: list[Run], pick: Any) -> float:
    return float(statistics.median(pick(run) for run in runs))


def report(runs: list[Run], kinds: list[str], worker_counts: list[int]) -> None:
    """Medians per kind and worker count, the ratio to the fewest workers, and where the limit is."""
    cpus = os.cpu_count() or 1
    grouped: dict[tuple[str, int], list[Run]] = defaultdict(list)
    for run in runs:
        grouped[(run.kind, run.workers)].append(run)
    print(f"\n== medians of {max(len(v) for v in grouped.values())} rounds ({cpus} CPUs) ==")
    print(
        "kind     workers  requests/s  ratio  p50 ms  p99 ms  errors | ms/request replica postgres wrk | "
        "cores replica (per worker) postgres wrk other = busy | load before -> after"
    )
    for kind in kinds:
        first = _median(grouped[(kind, worker_counts[0])], lambda r: r.rate)
        for workers in worker_counts:
            chosen = grouped[(kind, workers)]
            if not chosen:
                continue
            m = {
                key: _median(chosen, lambda r, key=key: r.cores[key])
                for key in ("replica", "postgres", "wrk", "other", "busy", "steal")
            }
            per_worker = [round(statistics.median(r.worker_cores[i] for r in chosen), 2) for i in range(workers)]
            rate = _median(chosen, lambda r: r.rate)
            print(
                f"{kind:8s} {workers:7d} {rate:11.1f} {rate / first:6.2f} {_median(chosen, lambda r: r.p50_ms):7.1f} "
                f"{_median(chosen, lambda r: r.p99_ms):7.1f} {sum(r.errors for r in chosen):7d} | "
                f"{_median(chosen, lambda r: r.ms['replica']):18.2f} "
                f"{_median(chosen, lambda r: r.ms['postgres']):8.2f} "
                f"{_median(chosen, lambda r: r.ms['wrk']):5.3f} | {m['replica']:13.2f} {per_worker} "
                f"{m['postgres']:.2f} {m['wrk']:.2f} {m['other']:.2f} = {m['busy']:.2f} (steal {m['steal']:.2f}) | "
                f"{_fmt_load([r.load_before for r in chosen])} -> {_fmt_load([r.load_after for r in chosen])}"
            )
    print_round_ratios(runs, kinds, worker_counts)
    print("\n== where the limit is ==")
    for kind in kinds:
        top = grouped[(kind, worker_counts[-1])]
        one = grouped[(kind, worker_counts[0])]
        if not top or not one:
            continue
        rates = {w: _median(grouped[(kind, w)], lambda r: r.rate) for w in worker_counts if grouped[(kind, w)]}
        ratios = ", ".join(
            f"{w}w/{worker_counts[0]}w x{rates[w] / rates[worker_counts[0]]:.2f}" for w in list(rates)[1:]
        )
        replica_ms = _median(top, lambda r: r.ms["replica"])
        pg_ms = _median(top, lambda r: r.ms["postgres"])
        wrk_ms = _median(top, lambda r: r.ms["wrk"])
        busy = _median(top, lambda r: r.cores["busy"])
        ceiling = cpus * 1000 / (replica_ms + pg_ms + wrk_ms)  # every core busy at these CPU costs per request
        single = _median(one, lambda r: max(r.worker_cores))
        verdict = (
            "machine-bound: every core busy"
            if busy >= 0.9 * cpus
            else "database-bound: PostgreSQL's backends fill the cores it could use"
            if _median(top, lambda r: r.cores["postgres"]) >= 0.9 * (cpus - 1)
            else f"neither CPU nor database saturated ({busy:.2f} of {cpus} cores): waits (locks, round trips)"
        )
        print(
            f"{kind:8s} {ratios}. At {worker_counts[-1]} workers {busy:.2f} of {cpus} cores busy -> {verdict}. "
            f"1 worker used {single:.2f} core (a gthread worker is one interpreter: <= 1 core). Per request: "
            f"replica {replica_ms:.2f} + PostgreSQL {pg_ms:.2f} + wrk {wrk_ms:.3f} ms -> this machine tops out at "
            f"~{ceiling:.0f}/s ({worker_counts[-1]} workers served {rates[worker_counts[-1]] / ceiling:.0%} of it, "
            f"x{ceiling / rates[worker_counts[0]]:.2f} of 1 worker's rate at most); "
            f"PostgreSQL alone would fill one core at "
            f"~{1000 / pg_ms:.0f}/s and {cpus} cores at ~{cpus * 1000 / pg_ms:.0f}/s (the database ceiling with "
            f"replicas on other hosts); one worker at ~{1000 / replica_ms:.0f}/s."
        )


def _seed(root: Path, dsn: str, devices: int) -> tuple[Any, dict[str, Any]]:
    """1,000 devices on 1.0.0, a rollout of 1.1.0 in flight; the fleet (tokens, offered) and the replica settings."""
    key = root / "fleet.key"
    cli_main(["keygen", "--out", str(key)])
    values: dict[str, Any] = {"database_url": dsn, "signing_key_path": key, "admin_token": ADMIN_TOKEN}
    values["state_dir"] = root / "state"
    values["storage_url"] = (root / "store").absolute().as_uri()
    app = create_app(Settings.model_validate(values))
    packages = [make_package(root / "packages", version) for version in ("1.0.0", "1.1.0")]
    fleet = _setup(_test_client_send(app), devices, packages)
    dispose(app)
    return fleet, values


def _script(root: Path, fleet: Any, url: str) -> Path:
    """The wrk script: every device's path, token and current ETag (fetched once), record templates."""
    rows = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for device in fleet.devices:
            answer = client.get(f"/api/v1/devices/{device}/desired", headers=fleet.auth(device))
            answer.raise_for_status()
            rows.append((f"/api/v1/devices/{device}", f"Bearer {fleet.tokens[device]}", answer.headers["ETag"]))
    rng = random.Random(5)
    templates = [wrk_load.record_template(record) for record in (inspection(1, "ok"), inspection(1, "ng"), health(1))]
    samples = [
        wrk_load.record_template(sample(1, rng.randbytes(rng.randint(2000, 8000)), 0, part_id=f"S{index}"))
        for index in range(16)
    ]
    offered = [fleet.devices.index(device) for device in fleet.offered]
    return wrk_load.write_script(
        root / "fleet.lua", rows, offered, templates, samples, (MODEL, "1.1.0", fleet.rollout_id)
    )


def main() -> None:
    """Seed, start one replica per worker count, then rounds of every kind against each replica."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--workers", default="1,2", help="gunicorn worker counts (one replica each)")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker")
    parser.add_argument("--kinds", default=",".join(wrk_load.KINDS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0, help="per wrk run")
    parser.add_argument("--connections", type=int, default=32, help="wrk's open connections (closed loop)")
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument(
        "--per-connection",
        type=int,
        default=20,
        help="requests per connection before the client asks to close (0: keep every connection for the run); "
        "gateways polling every 30 s reconnect per poll, a load balancer reuses upstream connections for up to "
        "nginx's keepalive_requests (1,000): keep-alive connections stay on the worker that accepted them",
    )
    parser.add_argument("--quiet-load", type=float, default=0.8, help="wait for the 1-minute load average below it")
    parser.add_argument("--quiet-wait-s", type=float, default=60.0, help="but at most this long before each run")
    parser.add_argument("--idle-wait-s", type=float, default=180.0, help="then wait this long for an idle machine")
    parser.add_argument("--max-other", type=float, default=0.2, help="cores other processes may take in a run")
    parser.add_argument("--retries", type=int, default=2, help="runs measured again when others took more")
    parser.add_argument("--from-log", type=Path, help="print the report of an earlier run's output instead of running")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    worker_counts = [int(count) for count in args.workers.split(",")]
    kinds = args.kinds.split(",")
    if args.from_log:
        report(runs_from_log(args.from_log), kinds, worker_counts)
        return
    root = Path(tempfile.mkdtemp(prefix="fleet-scaling-"))
    cluster = PostgresCluster()
    cluster.start()
    replicas: dict[int, Replica] = {}
    try:
        fleet, values = _seed(root, cluster.url(cluster.create_database()), args.devices)
        postmaster = int((cluster.root / "data" / "postmaster.pid").read_text().split()[0])
        for workers in worker_counts:
            settings = {**values, "workers": workers, "threads": args.threads, "jobs": False}
            config = write_config(root / f"cloud-sync-{workers}.yaml", settings)
            replicas[workers] = start(config, root / f"replica-{workers}", level="WARNING")
        for replica in replicas.values():
            replica.wait_ready()
        script = _script(root, fleet, replicas[worker_counts[0]].url)
        print(
            f"fleet scaling: {args.devices} devices, rollout of 1.1.0 with {len(fleet.offered)} offered, "
            f"{os.cpu_count()} CPUs, wrk -t{args.wrk_threads} -c{args.connections} for {args.seconds:g} s per run, "
            f"{args.per_connection or 'all'} requests per connection, "
            f"gunicorn gthread x {args.threads} threads; load average {os.getloadavg()[0]:.2f}",
            flush=True,
        )
        cursor = time.time_ns() // 1_000_000
        for replica in replicas.values():  # warm-up: connection pools, imports, caches
            wrk_load.run_wrk(script, replica.url, "mix", cursor, 3, args.connections, args.wrk_threads)
            cursor += 100_000
        runs: list[Run] = []
        for round_index in range(args.rounds):
            print(f"\n== round {round_index + 1} of {args.rounds} ==", flush=True)
            for kind in kinds:
                for workers, replica in replicas.items():
                    for attempt in range(1 + args.retries):
                        run, sent = measure(replica, workers, kind, cursor, script, postmaster, args)
                        # seqs and timestamps of the next run start past every one this run could have used
                        cursor = max(
                            time.time_ns() // 1_000_000, cursor + (sent + args.connections + 1000) * args.wrk_threads
                        )
                        if run.cores["other"] <= args.max_other or attempt == args.retries:
                            break
                        print(f"    (other processes took {run.cores['other']:.2f} cores: measured again)", flush=True)
                    runs.append(run)
            report(runs, kinds, worker_counts)  # after every round: a cut-short run still leaves its medians
    finally:
        for replica in replicas.values():
            replica.stop()
        cluster.stop()
        print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()

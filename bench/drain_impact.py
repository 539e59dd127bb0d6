"""Inference throughput of `edge-agent run` while its outbox drains a backlog to cloud-sync, vs with no backlog.

Run: .venv/bin/python bench/drain_impact.py [--backlog 600000 --rounds 8 --frames 600]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from inprocess import NS, Counter, client, frames, paced_latency, saturate, start_agent  # noqa: E402

from edge_agent.demo.demo_cloud import start_cloud  # noqa: E402
from edge_agent.demo.devbroker import DevBroker  # noqa: E402
from edge_agent.outbox.store import Outbox  # noqa: E402

BODY = b'{"ts_ms":1700000000000,"asset":"pump-1","state":"healthy","health_index":0.97,"scores":{"healthy":0.97}}'


def _backlog_left(outbox_path: Path, backlog: int) -> int:
    """Backlog records still waiting (the agent's own results go to the outbox too; they do not count)."""
    outbox = Outbox(outbox_path, 1 << 30)
    left = sum(1 for r in outbox.batch(backlog + 1, 1 << 40) if r.stream == "health/pump-1") if backlog else 0
    outbox.close()
    return left


def measure(
    broker_port: int,
    workdir: Path,
    cloud: dict[str, object],
    payloads: list[bytes],
    backlog: int,
    rounds: int,
    half_rate: float | None,
    share: float = 0.1,
) -> dict[str, float]:
    """With `backlog` records waiting in the outbox: frames/s at saturation (mean of `rounds`), records
    drained meanwhile; then at `half_rate` frames/s for 10 s, p50/p99 latency and records drained."""
    outbox_path = workdir / "outbox.db"
    if backlog:
        outbox = Outbox(outbox_path, 1 << 30)
        futures = [outbox.append("health/pump-1", "health", BODY) for _ in range(backlog)]
        futures[-1].result(120)
        outbox.close()
    results = Counter()
    sub = client(broker_port, f"drain-sub-{backlog}", results, [f"{NS}/inspection/+/result"])
    pub = client(broker_port, f"drain-pub-{backlog}")
    outbox_config = {"path": str(outbox_path), "upload_share_when_busy": share}
    agent, _ = start_agent(broker_port, workdir, {"cloud": cloud, "outbox": outbox_config})
    out: dict[str, float] = {}
    try:
        started = time.monotonic()
        out["rate"] = float(np.mean([saturate(pub, results, "frame", payloads) for _ in range(rounds)]))
        out["busy_s"] = time.monotonic() - started
        out["busy_left"] = _backlog_left(outbox_path, backlog)
        if half_rate:
            started = time.monotonic()
            latencies = paced_latency(pub, results, payloads, half_rate, 10.0)
            out["half_s"] = time.monotonic() - started
            out["half_left"] = _backlog_left(outbox_path, backlog)
            out["p50"], out["p99"] = (float(v) for v in np.percentile(latencies, [50, 99]))
    finally:
        agent.terminate()
        agent.wait(30)
        pub.stop()
        sub.stop()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backlog", type=int, default=600_000, help="large enough to last the whole run")
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=8, help="saturations per measurement")
    args = parser.parse_args()
    payloads = frames(args.frames)
    with tempfile.TemporaryDirectory() as tmp, DevBroker(workdir=Path(tmp)) as broker:
        cloud = start_cloud(Path(tmp) / "cloud", "demo-gw", "line-1")
        try:
            settings = {"url": cloud.url, "token_file": str(cloud.device_token_file), "poll_s": 60}
            (Path(tmp) / "a").mkdir()
            (Path(tmp) / "b").mkdir()
            (Path(tmp) / "c").mkdir()
            (Path(tmp) / "d").mkdir()
            # empty, draining, empty again: the mean of the two empty runs cancels warm-up and drift
            first = measure(broker.port, Path(tmp) / "a", settings, payloads, 0, args.rounds, None)
            half = first["rate"] / 2
            busy = measure(broker.port, Path(tmp) / "b", settings, payloads, args.backlog, args.rounds, half)
            idle = measure(broker.port, Path(tmp) / "c", settings, payloads, 0, args.rounds, half)
            print(f"empty outbox, frames/s before and after the draining run: {first['rate']:.1f}, {idle['rate']:.1f}")
            idle["rate"] = (first["rate"] + idle["rate"]) / 2
            # the same backlog with pacing off: what draining costs when the uploader does not yield
            unpaced = measure(broker.port, Path(tmp) / "d", settings, payloads, args.backlog, args.rounds, half, 1.0)
        finally:
            cloud.stop()
    drained_busy = args.backlog - busy["busy_left"]
    drained_half = busy["busy_left"] - busy["half_left"]
    print(f"saturated: frames/s with an empty outbox {idle['rate']:.1f}, while draining {busy['rate']:.1f}")
    print(f"  ratio {busy['rate'] / idle['rate']:.2f}x (target >= 0.90x)")
    print(f"  backlog drained meanwhile: {drained_busy} records ({drained_busy / busy['busy_s']:.0f} records/s)")
    print(f"half load ({half:.0f} frames/s): p50/p99 ms with an empty outbox ", end="")
    print(f"{idle['p50']:.1f}/{idle['p99']:.1f}, while draining {busy['p50']:.1f}/{busy['p99']:.1f}")
    print(f"  backlog drained meanwhile: {drained_half} records ({drained_half / busy['half_s']:.0f} records/s)")
    drained_unpaced = args.backlog - unpaced["busy_left"]
    print(f"pacing off (upload_share_when_busy 1.0): saturated {unpaced['rate']:.1f} frames/s ", end="")
    print(f"({unpaced['rate'] / idle['rate']:.2f}x), ", end="")
    print(f"drained {drained_unpaced / unpaced['busy_s']:.0f} records/s; ", end="")
    print(f"half load p50/p99 {unpaced['p50']:.1f}/{unpaced['p99']:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

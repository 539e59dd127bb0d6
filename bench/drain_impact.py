"""Inference throughput of `edge-agent run` while its outbox drains a backlog to cloud-sync, vs with no backlog.

Run: .venv/bin/python bench/drain_impact.py [--backlog 150000 --frames 600]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from throughput import NS, Counter, client, frames, saturate, start_agent  # noqa: E402

from edge_agent.demo_cloud import start_cloud  # noqa: E402
from edge_agent.devbroker import DevBroker  # noqa: E402
from edge_agent.outbox.store import Outbox  # noqa: E402

BODY = b'{"ts_ms":1700000000000,"asset":"pump-1","state":"healthy","health_index":0.97,"scores":{"healthy":0.97}}'


def measure(broker_port: int, workdir: Path, cloud: dict[str, object], payloads: list[bytes], backlog: int) -> tuple:
    """Frames/s sustained with `backlog` records waiting in the outbox; and how many it drained meanwhile."""
    outbox_path = workdir / "outbox.db"
    if backlog:
        outbox = Outbox(outbox_path, 1 << 30)
        futures = [outbox.append("health/pump-1", "health", BODY) for _ in range(backlog)]
        futures[-1].result(120)
        outbox.close()
    results = Counter()
    sub = client(broker_port, f"drain-sub-{backlog}", results, [f"{NS}/inspection/+/result"])
    pub = client(broker_port, f"drain-pub-{backlog}")
    agent, _ = start_agent(broker_port, workdir, {"cloud": cloud, "outbox": {"path": str(outbox_path)}})
    try:
        rate = saturate(pub, results, "frame", payloads)
    finally:
        agent.terminate()
        agent.wait(30)
        pub.stop()
        sub.stop()
    left = Outbox(outbox_path, 1 << 30)
    remaining = left.count
    left.close()
    return rate, remaining


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backlog", type=int, default=150_000)
    parser.add_argument("--frames", type=int, default=600)
    args = parser.parse_args()
    payloads = frames(args.frames)
    with tempfile.TemporaryDirectory() as tmp, DevBroker(workdir=Path(tmp)) as broker:
        cloud = start_cloud(Path(tmp) / "cloud", "demo-gw", "line-1")
        try:
            settings = {"url": cloud.url, "token_file": str(cloud.device_token_file), "poll_s": 60}
            (Path(tmp) / "a").mkdir()
            (Path(tmp) / "b").mkdir()
            idle, _ = measure(broker.port, Path(tmp) / "a", settings, payloads, 0)
            time.sleep(1)
            draining, remaining = measure(broker.port, Path(tmp) / "b", settings, payloads, args.backlog)
        finally:
            cloud.stop()
    print(f"frames/s with an empty outbox:               {idle:8.1f}")
    print(f"frames/s while draining {args.backlog} records: {draining:8.1f}  ({args.backlog - remaining} uploaded)")
    print(f"throughput while draining / without: {draining / idle:.2f}x (target >= 0.90x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""End-to-end latency and CPU of `edge-agent run` at one steady frame rate, round by round, for A/B runs in one sitting.

The whole-bench ratios of bench/throughput.py move by tens of percent between runs on a shared host; a change of a
few percent shows only when both sides run minutes apart on the same host: run this, switch the change, run again.
Prints per round: results, p50/p90/p99 ms from publish to the result's arrival, and the agent's CPU seconds per
1,000 frames. Run: .venv/bin/python bench/paced_latency.py [--rate 250 --rounds 4 --seconds 6 --workers 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from throughput import Load, pct, start_agent  # noqa: E402

from edge_agent.demo.devbroker import DevBroker  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=250.0, help="frames per second offered, from one camera")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=6.0, help="per round")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, DevBroker(workdir=Path(tmp)) as broker:
        load = Load(broker.port)
        agent, _ = start_agent(broker.port, Path(tmp), args.workers)
        try:
            for index in range(args.rounds):
                expect = int(args.rate * args.seconds)
                got, cpu = load.run(
                    agent.pid, expect, op="paced", kind="frame", rate=args.rate, seconds=args.seconds, sources=1
                )
                done, latencies = got["counts"]["inspection"], got["latencies_ms"]
                print(
                    f"round {index + 1}: {done} of {expect} results  p50 {pct(latencies, 50):.2f}  "
                    f"p90 {pct(latencies, 90):.2f}  p99 {pct(latencies, 99):.2f} ms  "
                    f"CPU {cpu / max(done, 1) * 1000:.2f} s per 1,000 frames",
                    flush=True,
                )
        finally:
            agent.terminate()
            agent.wait(30)
            load.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

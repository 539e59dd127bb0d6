"""Appends records forever and prints each seq once the outbox acknowledged it (for kill -9 tests)."""

from __future__ import annotations

import sys
from pathlib import Path

from edge_agent.outbox.store import Outbox


def main() -> int:
    outbox = Outbox(Path(sys.argv[1]), budget_bytes=64 * 1024 * 1024, commit_interval_s=0.01)
    start = int(sys.argv[2])
    for i in range(start, start + 1_000_000):
        future = outbox.append("health/pump-1", "health", f'{{"n":{i}}}'.encode())
        seq = future.result(timeout=10)
        print(f"{seq} {i}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Outbox figures: durable append rate, acknowledgement latency (the power-loss window) and drain rate.

Run: .venv/bin/python bench/outbox.py [--records 50000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edge_agent.outbox.store import Outbox  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--interval-ms", type=float, default=50.0, help="group-commit interval")
    args = parser.parse_args()
    body = b'{"ts_ms":1700000000000,"asset":"pump-1","state":"healthy","health_index":0.97,"scores":{"healthy":0.97}}'
    with tempfile.TemporaryDirectory() as tmp:
        outbox = Outbox(Path(tmp) / "o.db", 1 << 30, args.interval_ms / 1000)
        started = time.perf_counter()
        stamps, futures = [], []
        for _ in range(args.records):
            stamps.append(time.perf_counter())
            futures.append(outbox.append("health/pump-1", "health", body))
        acked = []
        for stamp, future in zip(stamps, futures):
            future.result(60)
            acked.append(time.perf_counter() - stamp)
        elapsed = time.perf_counter() - started
        print(
            f"durable appends: {args.records / elapsed:,.0f} records/s (synchronous=FULL, WAL, "
            f"group commit every {args.interval_ms:.0f} ms)"
        )
        # the acknowledgement latency is what a power cut can lose: queued but not yet fsynced
        print(
            f"acknowledged after: p50 {np.percentile(acked, 50) * 1000:.1f} ms, "
            f"p99 {np.percentile(acked, 99) * 1000:.1f} ms, max {max(acked) * 1000:.1f} ms"
        )
        # at a steady 5,000 records/s (a busy line), how long a record waits for its fsync
        rate, paced = 5000.0, []
        last = None
        begin = time.perf_counter()

        def note(stamp: float) -> Any:
            return lambda _future: paced.append(time.perf_counter() - stamp)

        for i in range(int(rate * 3)):
            if i % 25 == 0:  # 25 records every 5 ms; sleeping lets the writer thread run, as on a real gateway
                time.sleep(max(0.0, begin + i / rate - time.perf_counter()))
            last = outbox.append("health/pump-1", "health", body)
            last.add_done_callback(note(time.perf_counter()))
        assert last is not None
        last.result(60)
        time.sleep(0.1)
        print(
            f"at 5,000 records/s, acknowledged after: p50 {np.percentile(paced, 50) * 1000:.1f} ms, "
            f"p99 {np.percentile(paced, 99) * 1000:.1f} ms  <- the power-loss window"
        )
        started = time.perf_counter()
        drained = 0
        while outbox.count:
            batch = outbox.batch(1000, 4 << 20)
            drained += outbox.acknowledge([r.seq for r in batch])
        print(f"read + acknowledge (no network): {drained / (time.perf_counter() - started):,.0f} records/s")
        outbox.close()
    print("drain to a local cloud-sync: .venv/bin/pytest -q -s tests/e2e/test_outbox_to_cloud.py -k drains")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

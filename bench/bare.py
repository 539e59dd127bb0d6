"""The bare pipeline for bench/throughput.py: decode + preprocess + run of the package the agent would pick,
in as many threads as the agent has workers, no MQTT; optionally the per-asset baseline signature too.

Run: .venv/bin/python bench/bare.py [frame|window|window+sig] [THREADS]
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_models import bench_models  # noqa: E402
from load_client import frame_payloads, window_payloads  # noqa: E402

from edge_agent.app import build_pipeline  # noqa: E402
from edge_agent.baseline.signature import machine_signature  # noqa: E402
from edge_agent.ingest.images import decode_image  # noqa: E402
from edge_agent.ingest.vibration import parse_vibration  # noqa: E402
from edge_agent.model_manager import active_package_dir  # noqa: E402


def bare_round(kind: str, threads: int, seconds: float, paced: float | None = None) -> tuple[float, float, float]:
    """(items/s, p50 ms per item, CPU seconds per 1,000 items) of one round; `paced` items/s in all instead of as
    fast as possible (an item then finds cold caches, as in a process that waits for its next message)."""
    name = "surface-inspection" if kind == "frame" else "bearing-health"
    # as many model instances as threads, as the agent has one per worker
    pipeline = build_pipeline(active_package_dir(bench_models(), name), [bench_models() / "keys"], parallel=threads)
    payloads = frame_payloads() if kind == "frame" else window_payloads()
    times: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def one(payload: bytes) -> None:
        if kind == "frame":
            pipeline.infer([pipeline.prepare(decode_image(payload))])  # type: ignore[arg-type]
            return
        window = parse_vibration(payload)
        pipeline.infer([pipeline.prepare(window)])  # type: ignore[arg-type]
        if kind == "window+sig":
            machine_signature(window.samples, window.fs_hz, window.rpm or 0.0)

    def loop(offset: int) -> None:
        i = offset
        mine: list[float] = []
        begin = time.perf_counter()
        while time.perf_counter() < stop:
            if paced:
                time.sleep(max(0.0, begin + len(mine) * threads / paced - time.perf_counter()))
            t0 = time.perf_counter()
            one(payloads[i % len(payloads)])
            mine.append((time.perf_counter() - t0) * 1000)
            i += 1
        with lock:
            times.extend(mine)

    one(payloads[0])  # warm-up
    workers = [threading.Thread(target=loop, args=(k,)) for k in range(threads)]
    started, cpu = time.perf_counter(), time.process_time()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return len(times) / elapsed, statistics.median(times), cpu / max(len(times), 1) * 1000


def bare_paced_cpu(kind: str, threads: int, paced: float, seconds: float, rounds: int) -> float:
    """Median CPU seconds per 1,000 items when `paced` items/s arrive (the agent's half-load figure's twin)."""
    return statistics.median(bare_round(kind, threads, seconds, paced)[2] for _ in range(rounds))


def bare_rate(kind: str, threads: int, seconds: float, rounds: int) -> dict[str, float]:
    """Medians over rounds of items/s and CPU seconds per 1,000 items with `threads` threads, and of the p50 ms of
    one item on one thread (the latency a lone item sees, not one waiting for the other thread's GIL)."""
    runs = [bare_round(kind, threads, seconds) for _ in range(rounds)]
    lone = [bare_round(kind, 1, seconds / 2)[1] for _ in range(rounds)]
    return {
        "rate": statistics.median(r[0] for r in runs),
        "p50": statistics.median(lone),
        "cpu_1k": statistics.median(r[2] for r in runs),
    }


if __name__ == "__main__":
    chosen = sys.argv[1] if len(sys.argv) > 1 else "frame"
    print(bare_rate(chosen, int(sys.argv[2]) if len(sys.argv) > 2 else 2, 4.0, 3))

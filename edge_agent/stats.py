"""Thread-safe counters and latency windows that the status page, /metrics and status messages read."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field

import numpy as np

COUNTER_KINDS = ("received", "processed", "dropped", "malformed", "failed")


@dataclass
class _Latency:
    """Recent latencies (ms) of one pipeline; a bounded window keeps percentiles cheap."""

    samples: deque[float] = field(default_factory=lambda: deque(maxlen=2048))
    total: int = 0
    sum_ms: float = 0.0


class AgentStats:
    """Counters per (kind, stream) and latency windows per pipeline."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[tuple[str, str], int] = defaultdict(int)
        self._latency: dict[str, _Latency] = defaultdict(_Latency)
        self._rate_marks: deque[tuple[float, dict[tuple[str, str], int]]] = deque(maxlen=120)
        self.started = time.time()

    def count(self, kind: str, stream: str, n: int = 1) -> None:
        """Add n to a counter such as ('received', 'cam/cam-1')."""
        with self._lock:
            self._counters[(kind, stream)] += n

    def observe(self, pipeline: str, latency_ms: float) -> None:
        """Record one end-to-end latency."""
        with self._lock:
            window = self._latency[pipeline]
            window.samples.append(latency_ms)
            window.total += 1
            window.sum_ms += latency_ms

    def model_counts(self, name: str) -> tuple[int, int]:
        """(results, failures) of a model name so far."""
        with self._lock:
            return self._counters.get(("model_ok", name), 0), self._counters.get(("model_failed", name), 0)

    def model_p99_ms(self, ident: str) -> tuple[float, int]:
        """(p99 inference ms over the recent window, lifetime samples) of one model version."""
        with self._lock:
            window = self._latency.get(f"infer:{ident}")
            samples = list(window.samples) if window else []
            total = window.total if window else 0
        return (float(np.percentile(samples, 99)) if samples else 0.0), total

    def counters(self) -> dict[tuple[str, str], int]:
        """A copy of every counter."""
        with self._lock:
            return dict(self._counters)

    def total(self, kind: str) -> int:
        """Sum of one counter kind over all streams."""
        with self._lock:
            return sum(v for (k, _), v in self._counters.items() if k == kind)

    def latency(self) -> dict[str, dict[str, float]]:
        """p50/p99 over the recent window, plus lifetime count and sum, per pipeline."""
        with self._lock:
            windows = {name: (list(w.samples), w.total, w.sum_ms) for name, w in self._latency.items()}
        out: dict[str, dict[str, float]] = {}
        for name, (samples, total, sum_ms) in windows.items():
            if samples:
                p50, p99 = np.percentile(samples, [50, 99])
                out[name] = {"p50_ms": round(float(p50), 3), "p99_ms": round(float(p99), 3)}
            else:
                out[name] = {"p50_ms": 0.0, "p99_ms": 0.0}
            out[name].update(count=float(total), sum_ms=round(sum_ms, 3))
        return out

    def rates(self, horizon_s: float = 10.0) -> dict[str, float]:
        """Per-second rate of each counter over roughly the last horizon_s, from periodic marks."""
        now = time.monotonic()
        current = self.counters()
        with self._lock:
            self._rate_marks.append((now, current))
            base_time, base = self._rate_marks[0]
            for mark_time, mark in self._rate_marks:
                if now - mark_time <= horizon_s:
                    base_time, base = mark_time, mark
                    break
        elapsed = now - base_time
        if elapsed <= 0:
            return {}
        return {f"{k}:{s}": round((v - base.get((k, s), 0)) / elapsed, 2) for (k, s), v in current.items()}

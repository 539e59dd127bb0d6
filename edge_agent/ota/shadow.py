"""Shadow evaluation: a candidate model runs beside the active one on a sample of live inputs."""

from __future__ import annotations

import contextlib
import logging
import queue
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from edge_agent.errors import EdgeAgentError

log = logging.getLogger(__name__)


class ShadowThresholds(BaseModel):
    """What a candidate must show on live traffic before it may replace the active model."""

    model_config = ConfigDict(extra="forbid")

    sample_rate: float = Field(default=0.2, gt=0, le=1, description="Share of live inputs also run by the candidate")
    min_samples: int = Field(default=50, ge=1, description="Comparisons needed before judging")
    min_agreement: float = Field(default=0.95, ge=0, le=1, description="Share of identical verdicts/states")
    max_p99_ratio: float = Field(default=2.0, gt=0, description="Candidate p99 latency / active p99 latency")
    max_error_rate: float = Field(default=0.01, ge=0, le=1, description="Share of candidate runs that failed")
    timeout_s: float = Field(default=900.0, gt=0, description="Give up (reject) if not enough traffic by then")


@dataclass
class _Trial:
    candidate: Any
    thresholds: ShadowThresholds
    started: float = field(default_factory=time.monotonic)
    agree: int = 0
    compared: int = 0
    errors: int = 0
    candidate_ms: list[float] = field(default_factory=list)
    active_ms: list[float] = field(default_factory=list)


def _label(outcome: Any) -> str:
    result = outcome.result
    return str(getattr(result, "verdict", None) or getattr(result, "state", ""))


class ShadowEvaluator:
    """Workers offer (input, active label) pairs; one background thread runs the candidates and keeps score."""

    def __init__(self, queue_size: int = 64, seed: int | None = None) -> None:
        self._trials: dict[str, _Trial] = {}
        self._queue: queue.Queue[tuple[str, Any, str, float]] = queue.Queue(maxsize=queue_size)
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="shadow", daemon=True)
        self._thread.start()

    def begin(self, name: str, candidate: Any, thresholds: ShadowThresholds) -> None:
        """Start comparing a candidate pipeline for model `name`."""
        with self._lock:
            self._trials[name] = _Trial(candidate, thresholds)

    def end(self, name: str) -> None:
        """Stop comparing."""
        with self._lock:
            self._trials.pop(name, None)

    def active(self, name: str) -> bool:
        """True while a trial runs for this model."""
        return name in self._trials

    def observe(self, name: str, raw_input: Any, active_label: str, active_ms: float) -> None:
        """Hot path: maybe sample this input for the candidate; never blocks."""
        trial = self._trials.get(name)
        if trial is None or self._random.random() >= trial.thresholds.sample_rate:
            return
        # shadow work is best effort: when it falls behind, the live path wins and samples are skipped
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait((name, raw_input, active_label, active_ms))

    def _loop(self) -> None:
        while True:
            name, raw_input, active_label, active_ms = self._queue.get()
            trial = self._trials.get(name)
            if trial is None:
                continue
            started = time.perf_counter()
            try:
                outcome = trial.candidate.infer([trial.candidate.prepare(raw_input)])[0]
                label, failed = _label(outcome), False
            except EdgeAgentError as exc:
                label, failed = "", True
                log.debug("shadow candidate for %s failed: %s", name, exc)
            elapsed = (time.perf_counter() - started) * 1000
            with self._lock:
                trial.compared += 1
                trial.errors += int(failed)
                trial.agree += int(not failed and label == active_label)
                trial.candidate_ms.append(elapsed)
                trial.active_ms.append(active_ms)

    def judge(self, name: str) -> tuple[bool, str, dict[str, float]] | None:
        """None while undecided; else (passed, reason, figures)."""
        with self._lock:
            trial = self._trials.get(name)
            if trial is None:
                return (False, "no shadow trial running", {})
            t = trial.thresholds
            if trial.compared < t.min_samples:
                if time.monotonic() - trial.started > t.timeout_s:
                    return (False, f"only {trial.compared} shadow samples in {t.timeout_s:.0f} s", {})
                return None
            figures = {
                "samples": float(trial.compared),
                "agreement": trial.agree / trial.compared,
                "error_rate": trial.errors / trial.compared,
                "candidate_p99_ms": float(np.percentile(trial.candidate_ms, 99)),
                "active_p99_ms": float(np.percentile(trial.active_ms, 99)),
            }
        ratio = figures["candidate_p99_ms"] / max(figures["active_p99_ms"], 1e-3)
        figures["p99_ratio"] = ratio
        if figures["error_rate"] > t.max_error_rate:
            return (False, f"shadow error rate {figures['error_rate']:.1%} > {t.max_error_rate:.1%}", figures)
        if figures["agreement"] < t.min_agreement:
            return (False, f"shadow agreement {figures['agreement']:.1%} < {t.min_agreement:.1%}", figures)
        if ratio > t.max_p99_ratio:
            return (False, f"shadow p99 latency {ratio:.1f}x the active model's (limit {t.max_p99_ratio}x)", figures)
        return (True, "shadow evaluation passed", figures)

"""Judges one unit's cycles against the model: slow cycles, hidden micro-stops, and drift by CUSUM with a reason."""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from edge_agent.config_line import CycleModelConfig
from edge_agent.line.cycle_model import Expectation
from edge_agent.line.cycles import Cycle

NORMAL, SLOW, MICRO_STOP = "normal", "slow", "micro_stop"
Z_CLIP = 4.0  # one odd cycle moves the CUSUM by at most this many sigmas
CUSUM_CAP = 3.0  # in decision intervals
WARM_CYCLES = 5  # cycles that set a unit's pace before any is called a micro-stop


def _speed_text(speed: float | None) -> str:
    return "" if speed is None else f" at speed {speed:g}"


@dataclass
class Finding:
    """An event to publish: a hidden micro-stop, a drift that began, or one that ended."""

    kind: str  # micro_stop | drift | drift_end
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class UnitJudge:
    """Per-unit state: the pace of the recent cycles over the model, and the upper CUSUM of the residuals."""

    unit: str
    config: CycleModelConfig
    recent: deque[float] = field(default_factory=deque)  # log(cycle / expected) of the last level_cycles cycles
    level: float = 0.0  # their median: the unit's pace, robust to the stops among them
    cusum: float = 0.0
    cusum_start_ms: int = 0  # where the current CUSUM excursion began: the drift's estimated onset
    drift_since_ms: int | None = None
    counts: dict[str, int] = field(default_factory=lambda: {NORMAL: 0, SLOW: 0, MICRO_STOP: 0})

    def __post_init__(self) -> None:
        self.recent = deque(self.recent, maxlen=self.config.level_cycles)

    @property
    def drift_ratio(self) -> float:
        """How much longer than the model the cycles run now (0.14 = +14%)."""
        return math.exp(self.level) - 1.0

    def judge(self, cycle: Cycle, expected: Expectation) -> tuple[str, list[Finding]]:
        """The verdict of one cycle (in time order per unit) and what it makes news of."""
        findings: list[Finding] = []
        residual = math.log(cycle.seconds / expected.expected_s)
        # judged at the unit's own pace: a drifting unit's every cycle is no micro-stop; until a few cycles have
        # set the pace (start-up, a restart mid-drift) no cycle is called a micro-stop
        warm = len(self.recent) >= WARM_CYCLES
        scale = math.exp(self.level)
        extra = cycle.seconds - expected.expected_s * scale
        stopped = warm and extra >= self.config.micro_stop_s and cycle.seconds > expected.p999_s * scale
        if cycle.features_known:  # else a feature is missing (the feeder's source was down): no evidence of pace
            self.recent.append(residual)
            self.level = statistics.median(self.recent)
        if stopped:
            self.counts[MICRO_STOP] += 1
            findings.append(self._micro_stop(cycle, expected, extra))
            return MICRO_STOP, findings  # a stop says nothing about the pace: the CUSUM does not move
        verdict = SLOW if cycle.seconds > expected.p99_s else NORMAL
        self.counts[verdict] += 1
        if not cycle.features_known:
            return verdict, findings
        z = max(-Z_CLIP, min(Z_CLIP, residual / max(expected.sigma_log, 1e-4)))
        if self.cusum == 0.0:
            self.cusum_start_ms = cycle.start_ms
        # capped: after a long drift the sum must not take hours to forget it
        self.cusum = min(CUSUM_CAP * self.config.drift_h, max(0.0, self.cusum + z - self.config.drift_k))
        if self.drift_since_ms is None and self.cusum > self.config.drift_h:
            self.drift_since_ms = self.cusum_start_ms
            findings.append(self._drift(cycle, "drift"))
        elif self.drift_since_ms is not None and self.level <= 0.0:
            findings.append(self._drift(cycle, "drift_end"))  # the pace is back at the model's
            self.drift_since_ms, self.cusum = None, 0.0
        return verdict, findings

    def _micro_stop(self, cycle: Cycle, expected: Expectation, extra: float) -> Finding:
        reason = (
            f"{self.unit}: cycle took {cycle.seconds:.1f} s, {extra:.1f} s longer than expected "
            f"({expected.expected_s * math.exp(self.level):.1f} s) for product {cycle.product}"
            f"{_speed_text(cycle.speed)} while the state said running"
        )
        at_pace = round(expected.expected_s * math.exp(self.level), 3)
        return Finding(
            "micro_stop", reason, {"extra_s": round(extra, 2), "pace_s": at_pace, **self._cycle(cycle, expected)}
        )

    def _drift(self, cycle: Cycle, kind: str) -> Finding:
        since = self.drift_since_ms if self.drift_since_ms is not None else cycle.start_ms
        minutes = (cycle.end_ms - since) / 60_000
        pace = f"cycles {self.drift_ratio * 100:+.0f}% over the model for product {cycle.product}"
        if kind == "drift":
            reason = f"{self.unit}: {pace}{_speed_text(cycle.speed)} for {minutes:.0f} min"
        else:
            reason = f"{self.unit}: back within the model ({pace}{_speed_text(cycle.speed)}) after {minutes:.0f} min"
        detail = {"since_ms": since, "ratio": round(self.drift_ratio, 4), "cusum": round(self.cusum, 2)}
        return Finding(kind, reason, detail)

    @staticmethod
    def _cycle(cycle: Cycle, expected: Expectation) -> dict[str, Any]:
        return {
            "cycle": {
                "start_ms": cycle.start_ms,
                "end_ms": cycle.end_ms,
                "seconds": round(cycle.seconds, 3),
                "product": cycle.product,
                "speed": cycle.speed,
                "upstream_down": round(cycle.upstream_down, 3),
            },
            "expected_s": round(expected.expected_s, 3),
            "p999_s": round(expected.p999_s, 3),
        }

    def to_json(self) -> dict[str, Any]:
        """What a restart needs to go on judging at the same pace, with the same CUSUM and drift alarm."""
        return {
            "recent": [round(r, 6) for r in self.recent],
            "cusum": self.cusum,
            "cusum_start_ms": self.cusum_start_ms,
            "drift_since_ms": self.drift_since_ms,
            "counts": self.counts,
        }

    def restore(self, document: dict[str, Any]) -> None:
        """Resume from to_json() (a document of an older layout leaves the defaults)."""
        self.recent.extend(float(r) for r in document.get("recent", []))
        self.level = statistics.median(self.recent) if self.recent else 0.0
        self.cusum = float(document.get("cusum", 0.0))
        self.cusum_start_ms = int(document.get("cusum_start_ms", 0))
        since = document.get("drift_since_ms")
        self.drift_since_ms = int(since) if since is not None else None
        self.counts.update({str(k): int(v) for k, v in document.get("counts", {}).items() if k in self.counts})

    def status(self) -> dict[str, Any]:
        """The unit's cycle figures for the retained cycles document, the status page and /metrics."""
        return {
            "counts": dict(self.counts),
            "pace": round(self.drift_ratio, 4),
            "cusum": round(self.cusum, 2),
            "drift": None if self.drift_since_ms is None else {"since_ms": self.drift_since_ms},
        }

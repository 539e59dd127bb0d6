"""Judges one unit's cycles against the model: slow cycles, hidden micro-stops, and drift by CUSUM with a reason."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from edge_agent.config_line import CycleModelConfig
from edge_agent.line.cycle_model import Expectation
from edge_agent.line.cycles import Cycle

NORMAL, SLOW, MICRO_STOP = "normal", "slow", "micro_stop"
Z_CLIP = 4.0  # one odd cycle moves the CUSUM by at most this many sigmas
CUSUM_CAP = 3.0  # in decision intervals


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
    """Per-unit state: the running level of the cycles over the model, and the upper CUSUM of the residuals."""

    unit: str
    config: CycleModelConfig
    level: float = 0.0  # log(cycle / expected) averaged over the last level_cycles judged cycles
    seen: int = 0
    cusum: float = 0.0
    cusum_start_ms: int = 0  # where the current CUSUM excursion began: the drift's estimated onset
    drift_since_ms: int | None = None
    counts: dict[str, int] = field(default_factory=lambda: {NORMAL: 0, SLOW: 0, MICRO_STOP: 0})

    @property
    def drift_ratio(self) -> float:
        """How much longer than the model the cycles run now (0.14 = +14%)."""
        return math.exp(self.level) - 1.0

    def judge(self, cycle: Cycle, expected: Expectation) -> tuple[str, list[Finding]]:
        """The verdict of one cycle (in time order per unit) and what it makes news of."""
        findings: list[Finding] = []
        scale = math.exp(self.level)  # the unit's current pace: a drifting unit's every cycle is no micro-stop
        extra = cycle.seconds - expected.expected_s * scale
        if extra >= self.config.micro_stop_s and cycle.seconds > expected.p999_s * scale:
            self.counts[MICRO_STOP] += 1
            findings.append(self._micro_stop(cycle, expected, extra))
            return MICRO_STOP, findings  # a stop says nothing about the pace: neither level nor CUSUM move
        verdict = SLOW if cycle.seconds > expected.p99_s else NORMAL
        self.counts[verdict] += 1
        sigma = max(expected.sigma_log, 1e-4)
        residual = math.log(cycle.seconds / expected.expected_s)
        z = max(-Z_CLIP, min(Z_CLIP, residual / sigma))
        self.seen += 1
        clipped = max(self.level - Z_CLIP * sigma, min(self.level + Z_CLIP * sigma, residual))
        self.level += (clipped - self.level) / min(self.seen, self.config.level_cycles)
        if self.cusum == 0.0:
            self.cusum_start_ms = cycle.start_ms
        # capped: after a long drift the sum must not take hours to forget it
        self.cusum = min(CUSUM_CAP * self.config.drift_h, max(0.0, self.cusum + z - self.config.drift_k))
        if self.drift_since_ms is None and self.cusum > self.config.drift_h:
            self.drift_since_ms = self.cusum_start_ms
            findings.append(self._drift(cycle, "drift"))
        elif self.drift_since_ms is not None and self.level < self.config.drift_k * sigma:
            findings.append(self._drift(cycle, "drift_end"))  # the pace is back within the CUSUM's allowance
            self.drift_since_ms, self.cusum = None, 0.0
        return verdict, findings

    def _micro_stop(self, cycle: Cycle, expected: Expectation, extra: float) -> Finding:
        reason = (
            f"{self.unit}: cycle took {cycle.seconds:.1f} s, {extra:.1f} s longer than expected "
            f"({expected.expected_s * math.exp(self.level):.1f} s) for product {cycle.product}"
            f"{_speed_text(cycle.speed)} while the state said running"
        )
        return Finding("micro_stop", reason, {"extra_s": round(extra, 2), **self._cycle(cycle, expected)})

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

    def status(self) -> dict[str, Any]:
        """The unit's cycle figures for the retained cycles document, the status page and /metrics."""
        return {
            "counts": dict(self.counts),
            "pace": round(self.drift_ratio, 4),
            "cusum": round(self.cusum, 2),
            "drift": None if self.drift_since_ms is None else {"since_ms": self.drift_since_ms},
        }

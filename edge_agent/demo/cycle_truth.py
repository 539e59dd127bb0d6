"""Scores the cycle-time model's events against the simulator's ground truth: micro-stop recall, false alarms per
shift per unit, and how long after its onset a degrading station is flagged (simulated minutes)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from edge_agent.demo.plc_replay import Replay
from edge_agent.demo.plc_sim import SimUnitSpec
from edge_agent.line.cycle_model import CycleModel


@dataclass
class Score:
    """Tallies over one or more replayed shifts."""

    shifts: int = 0
    units: int = 0
    hidden_stops: int = 0
    found: int = 0
    false_micro_stops: int = 0
    false_drifts: int = 0
    delays_min: list[float] = field(default_factory=list)  # per degrading unit and shift; inf when never flagged
    missed: list[dict[str, Any]] = field(default_factory=list)

    @property
    def recall(self) -> float:
        """Hidden micro-stops flagged / hidden micro-stops in the truth."""
        return self.found / self.hidden_stops if self.hidden_stops else 1.0

    @property
    def false_alarms_per_shift_unit(self) -> float:
        """Events that match nothing in the truth, per shift per unit."""
        return (self.false_micro_stops + self.false_drifts) / max(1, self.shifts * self.units)

    def summary(self) -> dict[str, Any]:
        """The figures to print or assert."""
        return {
            "shifts": self.shifts,
            "units": self.units,
            "hidden_micro_stops": self.hidden_stops,
            "found": self.found,
            "recall": round(self.recall, 4),
            "false_micro_stops": self.false_micro_stops,
            "false_drifts": self.false_drifts,
            "false_alarms_per_shift_per_unit": round(self.false_alarms_per_shift_unit, 3),
            "drift_delay_min": [round(d, 1) for d in self.delays_min],
        }


def score_replay(replay: Replay, score: Score) -> None:
    """Add one replayed shift's events to the score."""
    score.shifts += 1
    score.units += 0 if score.shifts > 1 else len(replay.specs)
    for sim in replay.line.units:
        uid = sim.spec.id
        events = [e for e in replay.events if e["unit"] == uid]
        stops = [(replay.start_ms + int(a * 1000), replay.start_ms + int(b * 1000)) for a, b in sim.truth.hidden_stops]
        short = [replay.start_ms + int(a * 1000) for a, _ in sim.truth.hidden_short]
        score.hidden_stops += len(stops)
        matched: set[int] = set()
        for event in (e for e in events if e["type"] == "micro_stop"):
            cycle = event["cycle"]
            hit = next((i for i, (a, _) in enumerate(stops) if cycle["start_ms"] <= a < cycle["end_ms"]), None)
            if hit is not None and hit not in matched:
                matched.add(hit)
            elif not any(cycle["start_ms"] <= a < cycle["end_ms"] for a in short):  # too short to call either way
                score.false_micro_stops += 1
        score.found += len(matched)
        score.missed += [{"unit": uid, "stop_ms": s} for i, s in enumerate(stops) if i not in matched]
        onset = sim.spec.degrade_onset_s
        onset_ms = None if onset is None else replay.start_ms + int(onset * 1000)
        drifts = [e for e in events if e["type"] == "drift"]
        score.false_drifts += sum(1 for e in drifts if onset_ms is None or e["ts_ms"] < onset_ms)
        if onset_ms is not None and onset is not None and onset < replay.length_s:
            flagged = [e["ts_ms"] for e in drifts if e["ts_ms"] >= onset_ms]
            score.delays_min.append((flagged[0] - onset_ms) / 60_000 if flagged else float("inf"))


def measure(
    specs: tuple[SimUnitSpec, ...],
    model: Callable[[], CycleModel | None],
    seeds: Sequence[int],
    shift_s: float = 8 * 3600,
    start_ms: int = 1_796_169_600_000,
) -> Score:
    """Replay one shift per seed (a 30 min break mid-shift) through the tracker and the model; score it."""
    score = Score()
    for seed in seeds:
        breaks = [(shift_s / 2, shift_s / 2 + 1800)]
        replay = Replay(specs, start_ms + seed * 86_400_000, shift_s, breaks, model=model, seed=seed)
        replay.run()
        score_replay(replay, score)
    return score

"""Scores the cycle-time model's events against the simulator's ground truth: micro-stop recall, false alarms per
shift per unit, and how long after its onset a degrading station is flagged (simulated minutes)."""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_agent.demo.plc_line import DEMO_UNITS, PlcLine
from edge_agent.demo.plc_replay import Replay
from edge_agent.demo.plc_sim import SimUnitSpec
from edge_agent.line.cycle_model import CycleModel
from edge_agent.loading import load_model
from edge_agent.signing import TrustedKeys


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
    running_delays_min: list[float] = field(default_factory=list)  # the same, minutes the unit ran (cycles made)
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
            "drift_delay_running_min": [round(d, 1) for d in self.running_delays_min],
        }


def score_shift(score: Score, line: PlcLine, events_seen: list[dict[str, Any]]) -> None:
    """Add one simulated shift's events (micro_stop and drift documents as published) to the score."""
    score.shifts += 1
    score.units += 0 if score.shifts > 1 else len(line.units)
    start_ms = line.start_ms
    for sim in line.units:
        uid = sim.spec.id
        events = [e for e in events_seen if e["unit"] == uid]
        stops = [(start_ms + int(a * 1000), start_ms + int(b * 1000)) for a, b in sim.truth.hidden_stops]
        short = [start_ms + int(a * 1000) for a, _ in sim.truth.hidden_short]
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
        onset_ms = None if onset is None else start_ms + int(onset * 1000)
        drifts = [e for e in events if e["type"] == "drift"]
        score.false_drifts += sum(1 for e in drifts if onset_ms is None or e["ts_ms"] < onset_ms)
        if onset_ms is not None and onset is not None and onset < line.length_s:
            flagged = [e["ts_ms"] for e in drifts if e["ts_ms"] >= onset_ms]
            score.delays_min.append((flagged[0] - onset_ms) / 60_000 if flagged else float("inf"))
            if flagged:
                idle = [(s.start_s, s.end_s) for s in sim.stops] + list(line.breaks_s)
                score.running_delays_min.append(_running_s(onset, (flagged[0] - start_ms) / 1000, idle) / 60)


def _running_s(start_s: float, end_s: float, stops: list[tuple[float, float]]) -> float:
    """Seconds of [start_s, end_s) outside every stop (stops may overlap: a break during a fault)."""
    cut, edge = 0.0, start_s
    for a, b in sorted(stops):
        a, b = max(a, edge), min(b, end_s)
        if b > a:
            cut += b - a
            edge = b
    return end_s - start_s - cut


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
        score_shift(score, replay.line, replay.events)
    return score


def main(argv: list[str] | None = None) -> int:
    """Print the figures of a package over simulated shifts: python -m edge_agent.demo.cycle_truth PACKAGE."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("package", type=Path, help="cycle-time package directory, e.g. models/cycle-time/1.0.0")
    parser.add_argument("--keys", type=Path, default=Path("models/keys"), help="trusted public key(s)")
    parser.add_argument("--first-seed", type=int, default=1001, help="seeds the training and tuning never used")
    parser.add_argument("--shifts", type=int, default=20, help="8 h shifts, one seed each")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    model = CycleModel(load_model(args.package, TrustedKeys.from_paths([args.keys])))
    started = time.monotonic()
    score = measure(DEMO_UNITS, lambda: model, range(args.first_seed, args.first_seed + args.shifts))
    print(json.dumps(score.summary()))
    print(f"{score.shifts} shifts x {score.units} units in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

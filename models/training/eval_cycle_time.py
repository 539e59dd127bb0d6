"""Judge a cycle-time package through the agent's tracker and monitor on simulated shifts it never saw, against the
simulator's ground truth; print the figures and (--record) put them into its model card, signed again.
Run: python -m models.training.eval_cycle_time models/cycle-time/1.0.0 [--record]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from pathlib import Path

from edge_agent.demo.cycle_truth import Score, measure
from edge_agent.demo.plc_line import DEMO_UNITS
from edge_agent.line.cycle_model import CycleModel
from edge_agent.loading import load_model
from edge_agent.signing import TrustedKeys, load_private_key
from models.training.package import DEV_KEY, EVALUATION_HEADING, record_evaluation

KEYS = Path(__file__).resolve().parents[1] / "keys"


def markdown(score: Score, seeds: range, seconds: float) -> str:
    """The evaluation section of the model card."""
    delays = score.delays_min
    within = sum(d <= 10 for d in delays)
    return "\n".join(
        [
            EVALUATION_HEADING,
            "",
            f"The demo stations (press-1, weld-2 degrading +20%/h from 1 h on, pack-3) over {score.shifts} simulated "
            f"8 h shifts (seeds {seeds.start}-{seeds.stop - 1}, never used for training or tuning), replayed through "
            f"the agent's LineTracker and CycleMonitor with this package on ONNX Runtime ({seconds:.0f} s), scored "
            "against the simulator's ground truth (`edge_agent.demo.cycle_truth`).",
            "",
            "| figure | value | target |",
            "|---|---|---|",
            f"| hidden micro-stops (3-30 s, state tag said running) found | {score.found} of {score.hidden_stops} "
            f"({100 * score.recall:.1f}%) | >= 95% |",
            f"| false alarms per shift per unit | {score.false_alarms_per_shift_unit:.2f} ({score.false_micro_stops} "
            f"micro-stops, {score.false_drifts} drifts in {score.shifts * score.units} unit-shifts) | <= 1 |",
            f"| degrading station flagged after onset, simulated min | median {statistics.median(delays):.1f}, "
            f"{within} of {len(delays)} within 10, max {max(delays):.1f} | <= 10 |",
            f"| the same in minutes the station ran | median {statistics.median(score.running_delays_min):.1f}, "
            f"max {max(score.running_delays_min):.1f} | |",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    """CLI: measure, print, optionally record in the card."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("package", type=Path, help="cycle-time package directory")
    parser.add_argument("--shifts", type=int, default=20, help="8 h shifts, one seed each")
    parser.add_argument("--first-seed", type=int, default=1001, help="seeds training and tuning never used")
    parser.add_argument("--record", action="store_true", help="write the figures into the package's model card")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    model = CycleModel(load_model(args.package, TrustedKeys.from_paths([KEYS])))
    seeds = range(args.first_seed, args.first_seed + args.shifts)
    started = time.monotonic()
    score = measure(DEMO_UNITS, lambda: model, seeds)
    text = markdown(score, seeds, time.monotonic() - started)
    model.close()
    print(json.dumps(score.summary()))
    print(text)
    if args.record:
        record_evaluation(args.package, text, load_private_key(DEV_KEY))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

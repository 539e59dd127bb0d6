"""Given the demo line simulated for ten 8 h shifts the model never saw (a welder degrading from 1 h on, micro-stops
the PLC state does not show), when the shipped cycle-time package judges every cycle through the agent's tracker
and monitor, then issue 13's targets hold against the simulator's ground truth."""

from __future__ import annotations

import statistics

from edge_agent.demo.cycle_truth import measure
from edge_agent.demo.plc_line import DEMO_UNITS
from edge_agent.line.cycle_model import CycleModel
from edge_agent.loading import load_model
from edge_agent.signing import TrustedKeys
from tests.conftest import KEYS, MODELS


def test_micro_stop_recall_false_alarms_and_drift_delay_meet_the_targets() -> None:
    model = CycleModel(load_model(MODELS / "cycle-time" / "1.0.0", TrustedKeys.from_paths([KEYS])))
    score = measure(DEMO_UNITS, lambda: model, range(1001, 1011))
    print("cycle-time targets:", score.summary())
    # then hidden micro-stops (3-30 s) are found at >= 95% recall with <= 1 false alarm per shift per unit
    assert score.hidden_stops > 500
    assert score.recall >= 0.95
    assert score.false_alarms_per_shift_unit <= 1.0
    # and the degrading welder is flagged in every shift, typically within 10 simulated minutes of the onset;
    # where it was not (the welder stood still after the onset), within 10 minutes of it running
    assert len(score.delays_min) == 10 and all(d > 0 for d in score.delays_min)
    assert statistics.median(score.delays_min) <= 10.0
    assert sum(d <= 10.0 for d in score.delays_min) >= 8
    assert max(score.running_delays_min) <= 10.0

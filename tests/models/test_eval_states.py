"""Maintenance figures from published states: uncertain and unknown are counted apart from right and wrong."""

from __future__ import annotations

import pytest

from models.training.eval_states import meets_targets, state_metrics


def test_given_published_states_when_scored_then_uncertain_is_neither_an_alarm_nor_right() -> None:
    # given four healthy windows (one uncertain, one called imbalance) and two faults (one missed)
    truth = ["healthy", "healthy", "healthy", "healthy", "outer_race", "imbalance"]
    states = ["healthy", "uncertain", "imbalance", "healthy", "outer_race", "healthy"]
    rpm = [700.0, 1500.0, 1500.0, 3000.0, 3000.0, 700.0]
    # when scored with two untrained windows, one called unknown and one healthy
    m = state_metrics(truth, states, rpm, ["looseness", "cavitation"], ["unknown", "healthy"])
    # then accuracy counts uncertain as not right, decided accuracy leaves it out
    assert m["state_accuracy"] == pytest.approx(3 / 6)
    assert m["decided_accuracy"] == pytest.approx(3 / 5)
    assert m["uncertain_rate"] == pytest.approx(1 / 6) and m["healthy_uncertain_rate"] == pytest.approx(1 / 4)
    # and only the imbalance call on a healthy window is an alarm; the missed imbalance is a missed fault
    assert m["healthy_flagged_rate"] == pytest.approx(1 / 4)
    assert m["fault_missed_rate"] == pytest.approx(1 / 2)
    assert m["untrained_flagged_by_pattern"] == {"cavitation": 0.0, "looseness": 1.0}
    assert m["confusion"]["healthy"] == {"healthy": 2, "imbalance": 1, "uncertain": 1}
    assert m["accuracy_by_speed"]["0-1200 rpm"] == {"accuracy": 0.5, "n": 2}
    assert meets_targets(m) == {
        "state_accuracy>=0.97": False,
        "healthy_flagged<=0.01": False,
        "untrained_flagged>=0.90": False,
    }

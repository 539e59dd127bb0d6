"""Given one unit's cycles against the model's expectation, when they are judged, then hidden micro-stops and drift
are flagged with reasons, and the unit's own pace, not every cycle of a drifting unit, decides what is a stop."""

from __future__ import annotations

import math
import random
import re

import pytest

from edge_agent.config_line import CycleModelConfig
from edge_agent.line.cycle_judge import MICRO_STOP, NORMAL, Finding, UnitJudge
from edge_agent.line.cycle_model import Expectation
from edge_agent.line.cycles import Cycle

EXPECTED = Expectation(expected_s=4.4, p99_s=4.4 * 1.045, p999_s=4.4 * 1.06, sigma_log=0.019)


def _run(judge: UnitJudge, seconds: list[float], start_ms: int = 0) -> tuple[list[str], list[tuple[int, Finding]]]:
    """Judge back-to-back cycles of product A at speed 100; the verdicts and (end ms, finding) of each."""
    verdicts, findings, t = [], [], start_ms
    for s in seconds:
        cycle = Cycle("press-1", t, t + int(s * 1000), "A", 100.0)
        t = cycle.end_ms
        verdict, found = judge.judge(cycle, EXPECTED)
        verdicts.append(verdict)
        findings += [(t, f) for f in found]
    return verdicts, findings


def _noisy(rng: random.Random, n: int, pace: float = 1.0) -> list[float]:
    return [4.4 * pace * math.exp(rng.gauss(0, 0.015)) for _ in range(n)]


def test_cycles_at_the_models_pace_raise_nothing() -> None:
    # given four shifts' worth of cycles with the spread the model knows
    judge = UnitJudge("press-1", CycleModelConfig())
    verdicts, findings = _run(judge, _noisy(random.Random(1), 13_000))
    # then no micro-stop and no drift is reported, and almost every cycle is normal
    assert findings == []
    assert verdicts.count(NORMAL) / len(verdicts) > 0.98


def test_a_stop_the_state_did_not_show_is_a_micro_stop_with_its_reason() -> None:
    judge = UnitJudge("press-1", CycleModelConfig())
    rng = random.Random(2)
    # when one cycle takes 4 s longer than the rest
    verdicts, findings = _run(judge, [*_noisy(rng, 50), 8.4, *_noisy(rng, 50)])
    # then exactly that cycle is a micro-stop, said in words an operator reads
    assert verdicts.count(MICRO_STOP) == 1 and verdicts[50] == MICRO_STOP
    (_, finding), *rest = findings
    assert rest == [] and finding.kind == "micro_stop"
    assert finding.reason == (
        "press-1: cycle took 8.4 s, 4.0 s longer than expected (4.4 s) for product A at speed 100 "
        "while the state said running"
    )
    assert finding.detail["cycle"]["seconds"] == 8.4 and finding.detail["extra_s"] == pytest.approx(4.0, abs=0.1)


def test_a_degrading_unit_is_flagged_within_minutes_and_its_slow_cycles_are_no_micro_stops() -> None:
    judge = UnitJudge("press-1", CycleModelConfig())
    rng = random.Random(3)
    # given an hour at the model's pace, then a cycle growing by 20% per hour for three hours
    steady = _noisy(rng, 800)
    ramp, t = [], 0.0
    while t < 3 * 3600:
        ramp.append(4.4 * (1 + 0.2 * t / 3600) * math.exp(rng.gauss(0, 0.015)))
        t += ramp[-1]
    verdicts, findings = _run(judge, steady + ramp)
    onset_ms = int(sum(steady) * 1000)
    # then one drift is reported, within 10 minutes of the onset, with the pace, product, speed and duration
    drifts = [(t, f) for t, f in findings if f.kind == "drift"]
    assert len(drifts) == 1 and [f.kind for _, f in findings] == ["drift"]
    at_ms, drift = drifts[0]
    assert 0 < at_ms - onset_ms <= 10 * 60_000
    assert re.fullmatch(r"press-1: cycles \+\d+% over the model for product A at speed 100 for \d+ min", drift.reason)
    # and three hours later, 60% slower, not one cycle is called a micro-stop
    assert MICRO_STOP not in verdicts
    assert judge.status()["pace"] > 0.5 and judge.status()["drift"] is not None


def test_a_restart_resumes_the_pace_and_the_drift_alarm() -> None:
    config = CycleModelConfig()
    judge = UnitJudge("press-1", config)
    rng = random.Random(4)
    _, findings = _run(judge, _noisy(rng, 300, pace=1.3))
    assert [f.kind for _, f in findings] == ["drift"]
    # when the agent restarts and the judge is rebuilt from its saved state
    resumed = UnitJudge("press-1", config)
    resumed.restore(judge.to_json())
    verdicts, findings = _run(resumed, _noisy(rng, 300, pace=1.3), start_ms=10**9)
    # then the drift is not announced again and the slower pace is no string of micro-stops
    assert findings == [] and MICRO_STOP not in verdicts
    # and when the unit is repaired, the drift ends with a reason
    _, findings = _run(resumed, _noisy(rng, 100), start_ms=2 * 10**9)
    assert [f.kind for _, f in findings] == ["drift_end"]
    assert findings[0][1].reason.startswith("press-1: back within the model")

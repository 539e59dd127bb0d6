"""Given an asset's baseline, when a window is judged, then change against its own healthy self decides."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import pytest

from edge_agent.baseline import (
    AssetBaseline,
    BaselineLearner,
    BaselineSettings,
    MachineSignature,
    judge,
)
from edge_agent.baseline.judge import kept_evidence, pooled_lines_z
from tests.edge_agent.baseline.signals import (
    BEARING,
    MASKED_FS,
    MASKED_RPM,
    RPM,
    assessment,
    masked_fault_window,
    observe,
    window,
)

SETTINGS = BaselineSettings(windows=30, min_windows=10)


def _learn(rpm: float) -> AssetBaseline:
    learner = BaselineLearner("pump-3", "bearing-health@1.1.0", SETTINGS)
    for seed in range(30):
        signature, features = observe(window(seed, rpm=rpm), rpm=rpm)
        learner.add(signature, features, assessment("imbalance"))
    return learner.finish(now_ms=1)


@pytest.fixture(scope="module")
def baseline() -> AssetBaseline:
    """A healthy machine with a large residual 1x that the absolute model calls imbalance."""
    return _learn(RPM)


@pytest.fixture(scope="module")
def two_pole() -> AssetBaseline:
    """A two-pole motor on a 50 Hz grid: its 2x (98.3 Hz) lies within 2% of twice line frequency."""
    return _learn(2950.0)


@pytest.mark.parametrize("seed", [100, 101, 102])
def test_given_its_own_healthy_window_called_imbalance_when_judged_then_it_is_healthy(
    baseline: AssetBaseline, seed: int
) -> None:
    signature, features = observe(window(seed))
    result = judge(assessment("imbalance"), features, signature, baseline, SETTINGS)
    assert (result.state, result.anomaly, result.status) == ("healthy", False, "used")
    assert result.deviation < SETTINGS.deviation_alarm
    assert "own signature" in result.reasons[-1]


def test_given_an_anomalous_absolute_verdict_on_a_typical_window_when_judged_then_it_is_healthy(
    baseline: AssetBaseline,
) -> None:
    signature, features = observe(window(103))
    result = judge(assessment("unknown", anomaly=True), features, signature, baseline, SETTINGS)
    assert (result.state, result.anomaly) == ("healthy", False)


def test_given_1x_three_times_its_baseline_when_judged_then_it_is_imbalance(baseline: AssetBaseline) -> None:
    signature, features = observe(window(104, orders=(0.24, 0.02, 0.015)))
    result = judge(assessment("healthy"), features, signature, baseline, SETTINGS)
    assert (result.state, result.anomaly) == ("imbalance", False)
    assert result.changes_db["order_1x"] == pytest.approx(9.5, abs=1.0)
    assert result.reasons == [f"1x +{result.changes_db['order_1x']:.1f} dB over baseline, 2x/3x unchanged: imbalance"]


def test_given_2x_three_times_its_baseline_when_judged_then_it_is_misalignment(baseline: AssetBaseline) -> None:
    signature, features = observe(window(105, orders=(0.08, 0.06, 0.015)))
    result = judge(assessment("imbalance"), features, signature, baseline, SETTINGS)
    assert result.state == "misalignment"
    assert result.changes_db["order_2x"] == pytest.approx(9.5, abs=1.0)


def test_given_outer_race_impacts_when_judged_then_the_absolute_bearing_fault_stands(baseline: AssetBaseline) -> None:
    signature, features = observe(window(106, impacts_order=BEARING.fault_orders()["bpfo"], impact_g=0.3))
    result = judge(assessment("outer_race"), features, signature, baseline, SETTINGS)
    assert (result.state, result.anomaly) == ("outer_race", False)
    assert result.changes_db["band_rms"] > 3.0


def test_given_a_bearing_call_on_a_window_like_its_baseline_when_judged_then_healthy_is_preferred(
    baseline: AssetBaseline,
) -> None:
    signature, features = observe(window(107))
    assert judge(assessment("outer_race"), features, signature, baseline, SETTINGS).state == "healthy"


def test_given_an_unexplained_change_when_judged_then_it_is_unknown_and_anomalous(baseline: AssetBaseline) -> None:
    signature, features = observe(window(108, impacts_order=4.1))
    result = judge(assessment("healthy"), features, signature, baseline, SETTINGS)
    assert (result.state, result.anomaly) == ("unknown", True)
    assert result.deviation >= SETTINGS.deviation_alarm and "no known fault" in result.reasons[-1]


@pytest.mark.parametrize(("orders", "expected"), [((0.08, 0.02, 0.015), "healthy"), ((0.24, 0.02, 0.015), "imbalance")])
def test_given_an_uncertain_absolute_state_when_the_baseline_explains_it_then_it_resolves(
    baseline: AssetBaseline, orders: tuple[float, float, float], expected: str
) -> None:
    signature, features = observe(window(109, orders=orders))
    unsure = assessment("uncertain", 0.5, second="imbalance")
    assert judge(unsure, features, signature, baseline, SETTINGS).state == expected


def test_given_an_uncertain_state_between_two_bearing_faults_when_judged_then_it_stays_uncertain(
    baseline: AssetBaseline,
) -> None:
    signature, features = observe(window(110, impacts_order=BEARING.fault_orders()["bpfo"], impact_g=0.3))
    unsure = assessment("uncertain", 0.5, second="outer_race")
    unsure = replace(unsure, top2=("outer_race", "inner_race"))
    result = judge(unsure, features, signature, baseline, SETTINGS)
    assert result.state == "uncertain" and "outer_race and inner_race" in result.reasons[-1]


def test_given_a_window_at_another_speed_when_judged_then_the_absolute_state_stands_and_says_so(
    baseline: AssetBaseline,
) -> None:
    signature, features = observe(window(111, rpm=1200.0), rpm=1200.0)
    result = judge(assessment("imbalance"), features, signature, baseline, SETTINGS)
    assert (result.state, result.status, result.changes_db) == ("imbalance", "other_speed", {})
    assert "1780-1780 rpm" in result.reasons[0] and "absolute model only" in result.reasons[0]


def test_given_no_baseline_when_judged_then_the_absolute_assessment_is_unchanged() -> None:
    signature, features = observe(window(112))
    absolute = assessment("unknown", second="outer_race", anomaly=True)
    result = judge(absolute, features, signature, None, SETTINGS)
    assert (result.state, result.anomaly, result.status, result.deviation) == ("unknown", True, "none", 0.0)


def test_given_a_grown_harmonic_series_with_half_orders_when_judged_then_it_is_unknown_not_misalignment(
    baseline: AssetBaseline,
) -> None:
    loose = {0.5: 0.03, 1.5: 0.04, 2.5: 0.03, 5.0: 0.04, 6.0: 0.03, 7.0: 0.03, 8.0: 0.02}
    signature, features = observe(window(113, orders=(0.16, 0.12, 0.09), extra_orders=loose))
    result = judge(assessment("misalignment"), features, signature, baseline, SETTINGS)
    assert (result.state, result.anomaly) == ("unknown", True)
    assert any("looseness-like" in reason for reason in result.reasons)


def test_given_2x_line_frequency_on_a_two_pole_motor_when_judged_then_it_is_unknown_not_misalignment(
    two_pole: AssetBaseline,
) -> None:
    signature, features = observe(window(114, rpm=2950.0, tone_hz=(100.0, 0.1)), rpm=2950.0)
    result = judge(assessment("misalignment"), features, signature, two_pole, SETTINGS)
    assert result.changes_db["order_2x"] > 6.0
    assert (result.state, result.anomaly) == ("unknown", True)
    assert any("twice line frequency (100 Hz)" in reason for reason in result.reasons)


def test_given_a_true_2x_growth_next_to_2x_line_frequency_when_judged_then_it_is_misalignment(
    two_pole: AssetBaseline,
) -> None:
    signature, features = observe(window(115, rpm=2950.0, orders=(0.08, 0.1, 0.015)), rpm=2950.0)
    assert judge(assessment("healthy"), features, signature, two_pole, SETTINGS).state == "misalignment"


def test_given_an_absolute_anomaly_on_a_window_only_roughly_like_its_baseline_then_unknown_stands(
    baseline: AssetBaseline,
) -> None:
    signature, features = observe(window(116, impacts_order=4.1, impact_g=0.03))
    plain = judge(assessment("healthy"), features, signature, baseline, SETTINGS)
    flagged = judge(assessment("unknown", anomaly=True), features, signature, baseline, SETTINGS)
    assert 0.7 * SETTINGS.deviation_alarm <= flagged.deviation < SETTINGS.deviation_alarm
    assert (plain.state, flagged.state, flagged.anomaly) == ("healthy", "unknown", True)


def _observe_masked(seed: int, impact_g: float) -> tuple[MachineSignature, dict[str, float]]:
    return observe(masked_fault_window(seed, impact_g), MASKED_RPM, MASKED_FS)


@pytest.fixture(scope="module")
def masked() -> AssetBaseline:
    """A fan whose noise-fed frame mode fills the wide envelope band, commissioned healthy."""
    learner = BaselineLearner("fan-7", "bearing-health@1.3.0", SETTINGS)
    for seed in range(30):
        learner.add(*_observe_masked(seed, 0.0), assessment("healthy"))
    return learner.finish(now_ms=1)


@pytest.mark.parametrize("seed", [300, 301, 302])
def test_given_a_faint_outer_race_fault_the_absolute_model_calls_healthy_when_judged_then_it_is_outer_race(
    masked: AssetBaseline, seed: int
) -> None:
    signature, features = _observe_masked(seed, 0.01)
    result = judge(assessment("healthy"), features, signature, masked, SETTINGS)
    assert (result.state, result.anomaly) == ("outer_race", False)
    assert result.reasons[0].startswith("its outer race envelope lines rose over its baseline")
    assert result.reasons[0].endswith("while the absolute model said healthy")


@pytest.mark.parametrize("seed", [400, 401, 402, 403, 404])
def test_given_its_own_healthy_window_when_judged_then_no_bearing_fault_is_read_into_its_lines(
    masked: AssetBaseline, seed: int
) -> None:
    signature, features = _observe_masked(seed, 0.0)
    assert judge(assessment("healthy"), features, signature, masked, SETTINGS).state == "healthy"


def _judged_in_turn(masked: AssetBaseline, impact_g: float, seeds: range, settings: BaselineSettings) -> list[str]:
    """States of an asset's successive windows, each pooled with the evidence of those before it (as the agent)."""
    recent: list[Mapping[str, float]] = []
    states = []
    for seed in seeds:
        signature, features = _observe_masked(seed, impact_g)
        full = settings.evidence_windows > 1 and len(recent) == settings.evidence_windows - 1
        result = judge(assessment("healthy"), features, signature, masked, settings, recent)
        recent = kept_evidence(recent, result, settings)
        states.append(result.state)
        if full:
            assert result.state != "outer_race" or "over its last 4 windows" in result.reasons[0]
    return states


def test_given_impacts_too_faint_for_one_window_when_windows_are_pooled_then_the_fault_is_found(
    masked: AssetBaseline,
) -> None:
    # Given impacts a third of the faint fault above: one window alone rarely tells them from the fan's own noise
    one_by_one = BaselineSettings(windows=30, min_windows=10, evidence_windows=1)
    alone = _judged_in_turn(masked, 0.0015, range(500, 508), one_by_one)
    assert alone.count("outer_race") <= 2
    # When the asset's last 4 windows' envelope evidence is pooled, then every window from the fourth on is outer race
    pooled = _judged_in_turn(masked, 0.0015, range(500, 508), SETTINGS)
    assert pooled[3:] == ["outer_race"] * 5


def test_given_its_own_healthy_windows_when_pooled_then_no_bearing_fault_builds_up(masked: AssetBaseline) -> None:
    assert set(_judged_in_turn(masked, 0.0, range(400, 412), SETTINGS)) == {"healthy"}


def test_given_the_fault_gone_when_earlier_evidence_still_pools_high_then_the_window_itself_decides(
    masked: AssetBaseline,
) -> None:
    # Given four windows of faint impacts kept as the asset's evidence
    recent: list[dict[str, float]] = []
    for seed in range(500, 504):
        signature, features = _observe_masked(seed, 0.0015)
        recent = [*recent, judge(assessment("healthy"), features, signature, masked, SETTINGS, recent).fault_lines_z]
    # When a clean window follows (the pooled outer-race z is still over the detection bar)
    signature, features = _observe_masked(400, 0.0)
    result = judge(assessment("healthy"), features, signature, masked, SETTINGS, recent[-3:])
    assert pooled_lines_z(result.fault_lines_z, recent[-3:])["outer_race"] >= 3.0
    # Then it is healthy: pooled evidence names a fault only while the window itself leans that way
    assert result.state == "healthy"

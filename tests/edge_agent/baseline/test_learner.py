"""Given commissioning windows, when a baseline is learned, then it resumes, refuses faulty machines and finishes."""

from __future__ import annotations

import json

import pytest

from edge_agent.baseline import BaselineError, BaselineLearner, BaselineRefused, BaselineSettings, machine_signature
from edge_agent.baseline.learner import MAX_ROWS
from edge_agent.pipelines.vibration_features import default_step, extract_features
from tests.edge_agent.baseline.signals import (
    BEARING,
    MASKED_FS,
    MASKED_RPM,
    assessment,
    masked_fault_window,
    observe,
    window,
)

MODEL = "bearing-health@1.1.0"


def _learner(settings: BaselineSettings, count: int, state: str = "healthy", **kw: object) -> BaselineLearner:
    learner = BaselineLearner("pump-3", MODEL, settings)
    observed = [observe(window(seed, **kw)) for seed in range(min(count, 6))]  # type: ignore[arg-type]
    for i in range(count):
        signature, features = observed[i % len(observed)]
        learner.add(signature, features, assessment(state))
    return learner


def test_given_healthy_windows_when_finished_then_the_baseline_holds_levels_features_and_speed() -> None:
    settings = BaselineSettings(windows=12, min_windows=5)
    learner = _learner(settings, 12, state="imbalance")
    assert learner.ready and learner.windows == 12
    baseline = learner.finish(now_ms=1_700_000_000_000)
    assert (baseline.asset_id, baseline.model, baseline.windows) == ("pump-3", MODEL, 12)
    assert baseline.rpm_min == baseline.rpm_max == 1780.0
    assert baseline.level("order_1x_g") == pytest.approx(0.08, rel=0.05)
    assert baseline.features["raw_1x_db"][1] >= 1.0  # spreads are floored
    assert baseline.state_counts == {"imbalance": 12}
    assert type(baseline).model_validate_json(baseline.model_dump_json()) == baseline


def test_given_progress_saved_as_json_when_restored_then_counting_resumes() -> None:
    settings = BaselineSettings(windows=10, min_windows=5)
    learner = _learner(settings, 4)
    restored = BaselineLearner.from_dict(json.loads(json.dumps(learner.to_dict())), settings)
    assert (restored.windows, restored.ready, restored.asset_id) == (4, False, "pump-3")
    signature, features = observe(window(50))
    for _ in range(6):
        restored.add(signature, features, assessment("healthy"))
    assert restored.ready
    assert restored.finish(now_ms=1).state_counts == {"healthy": 10}


def test_given_corrupt_progress_when_restored_then_it_is_a_baseline_error() -> None:
    with pytest.raises(BaselineError, match="unreadable"):
        BaselineLearner.from_dict({"asset_id": "pump-3"}, BaselineSettings())


def test_given_too_few_windows_when_finished_then_it_is_refused() -> None:
    learner = _learner(BaselineSettings(windows=50, min_windows=30), 3)
    with pytest.raises(BaselineRefused) as refused:
        learner.finish(now_ms=1)
    assert "only 3 commissioning windows" in refused.value.reason


def test_given_a_machine_with_an_outer_race_fault_when_finished_then_it_is_refused_naming_the_fault() -> None:
    bpfo = BEARING.fault_orders()["bpfo"]
    learner = _learner(BaselineSettings(windows=10, min_windows=5), 10, state="outer_race", impacts_order=bpfo)
    with pytest.raises(BaselineRefused) as refused:
        learner.finish(now_ms=1)
    assert (
        refused.value.reason
        == "commissioning windows look like outer_race (100% of 10 windows confidently a bearing fault)"
    )


def test_given_a_machine_in_iso_zone_d_when_finished_then_it_is_refused_naming_the_velocity() -> None:
    learner = _learner(BaselineSettings(windows=6, min_windows=5), 6, orders=(0.4, 0.02, 0.01))
    with pytest.raises(BaselineRefused, match=r"velocity 14\.\d mm/s RMS is ISO zone D"):
        learner.finish(now_ms=1)


def test_given_a_long_commissioning_when_thinned_then_it_keeps_counting_and_stays_bounded() -> None:
    learner = _learner(BaselineSettings(windows=3 * MAX_ROWS, min_windows=5), 3 * MAX_ROWS)
    progress = learner.to_dict()
    assert learner.windows == 3 * MAX_ROWS and learner.ready
    assert len(progress["rpm"]) < MAX_ROWS and progress["stride"] == 4
    assert learner.finish(now_ms=1).windows == 3 * MAX_ROWS


def test_given_min_windows_above_windows_when_configured_then_settings_reject_it() -> None:
    with pytest.raises(ValueError, match="min_windows"):
        BaselineSettings(windows=10, min_windows=20)


def _masked_learner(impact_g: float) -> BaselineLearner:
    """Commissioning of a fan whose windows the absolute model calls healthy every time."""
    step = default_step()
    learner = BaselineLearner("fan-7", "bearing-health@1.3.0", BaselineSettings(windows=8, min_windows=5))
    for seed in range(8):
        x = masked_fault_window(seed, impact_g)
        values = extract_features(x, MASKED_FS, MASKED_RPM, BEARING, step)
        features = {n: float(v) for n, v in zip(step.feature_names, values, strict=True)}
        learner.add(machine_signature(x, MASKED_FS, MASKED_RPM), features, assessment("healthy"))
    return learner


def test_given_outer_race_impacts_the_model_calls_healthy_when_finished_then_the_envelope_lines_refuse_it() -> None:
    with pytest.raises(BaselineRefused) as refused:
        _masked_learner(0.02).finish(now_ms=1)
    assert refused.value.reason.startswith("commissioning windows carry outer_race impacts: its envelope lines stand")
    assert refused.value.reason.endswith("dB over the envelope floor in the median window (refused from 16 dB)")


def test_given_the_same_machine_healthy_when_finished_then_its_baseline_is_learned() -> None:
    assert _masked_learner(0.0).finish(now_ms=1).windows == 8

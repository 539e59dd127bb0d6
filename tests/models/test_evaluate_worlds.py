"""The evaluation runners put the shipped packages through the agent's own path on both generators."""

from __future__ import annotations

from pathlib import Path

from edge_agent.app import build_pipeline
from edge_agent.model_manager import active_package_dir
from edge_agent.pipelines.maintenance import HealthMonitor
from models.training.eval_surface_worlds import cleanroom_images, inspection_report, training_images
from models.training.eval_vibration_worlds import absolute_report, baseline_report, cleanroom_known

MODELS = Path(__file__).resolve().parents[2] / "models"
KEYS = [MODELS / "keys"]


def _health() -> HealthMonitor:
    pipeline = build_pipeline(active_package_dir(MODELS, "bearing-health"), KEYS)
    assert isinstance(pipeline, HealthMonitor)
    return pipeline


def test_given_clean_room_windows_when_scored_then_every_window_is_counted_once() -> None:
    known, untrained, _ = cleanroom_known(123, 2)
    report = absolute_report(_health(), known, untrained)
    assert report["n_windows"] == 12 and report["n_untrained_windows"] == len(untrained) == 8
    assert sum(sum(row.values()) for row in report["confusion"].values()) == 12
    assert set(report["untrained_flagged_by_pattern"]) == {"cavitation", "electrical", "gear_mesh", "looseness"}
    assert 0.0 <= report["uncertain_rate"] <= 1.0 and set(report["meets_targets"]) >= {"state_accuracy>=0.97"}


def test_given_two_commissioned_machines_when_judged_then_healthy_stays_quiet_and_3x_imbalance_is_seen() -> None:
    report = baseline_report(_health(), 321, 2, 2)
    assert report["machines"] == 2 and report["healthy_machines_refused"] == []
    assert report["healthy_flagged_rate"] == 0.0  # a machine like its own commissioning raises nothing
    assert report["imbalance_at_3x_detected"] == 1.0
    assert report["n_windows"] == 2 * 2 * 6
    # and a machine commissioned on a bearing fault is refused, a speed it never saw falls back and says so
    assert (
        report["faulty_commissioning_refused"] == 1.0 and "bearing fault" in report["faulty_commissioning_reasons"][0]
    )
    assert report["other_speed_windows_told"] == 1.0


def test_given_frames_of_both_generators_when_inspected_then_both_runtimes_answer_every_frame() -> None:
    packages = {name: active_package_dir(MODELS, name) for name in ("surface-inspection", "surface-inspection-onnx")}
    for frames in (training_images(5, 2, (128, 256)), cleanroom_images(5, 2, (128, 1024))):
        report = inspection_report(packages, KEYS, frames)
        assert report["n_images"] == len(frames) == 10
        for name in packages:
            assert report[name]["n"] == 10 and set(report[name]["by_size"]) == {f"{w}px" for w in report["sizes"]}
        assert 0.0 <= report["verdict_agreement"] <= 1.0


def test_given_the_second_clean_room_when_scored_then_fault_recall_is_told_per_severity_quarter() -> None:
    from models.evaluation import plant_vibration

    known, untrained, severity = cleanroom_known(77, 4, plant_vibration)
    report = absolute_report(_health(), known, untrained, severity)
    assert report["n_windows"] == 24 and report["n_untrained_windows"] == 4 * len(plant_vibration.UNTRAINED_STATES)
    assert set(report["untrained_flagged_by_pattern"]) == set(plant_vibration.UNTRAINED_STATES)
    quarters = report["fault_recall_by_severity"]
    assert list(quarters) == ["0.00-0.25", "0.25-0.50", "0.50-0.75", "0.75-1.00"]
    assert all(v != v or 0.0 <= v <= 1.0 for v in quarters.values())  # NaN where no fault fell in a quarter


def test_given_the_second_clean_room_fleet_when_commissioned_then_its_machines_are_judged_too() -> None:
    from models.evaluation import plant_vibration

    report = baseline_report(_health(), 654, 2, 2, plant_vibration)
    assert report["machines"] == 2 and report["n_windows"] == 2 * 2 * 6
    assert report["healthy_flagged_rate"] == 0.0
    assert report["other_speed_windows_told"] == 1.0


def test_given_the_fourth_clean_room_when_scored_and_commissioned_then_every_window_and_machine_is_judged() -> None:
    from models.evaluation import fourth_vibration

    known, untrained, severity = cleanroom_known(88, 2, fourth_vibration)
    report = absolute_report(_health(), known, untrained, severity)
    assert report["n_windows"] == 12 and set(report["untrained_flagged_by_pattern"]) == set(
        fourth_vibration.UNTRAINED_STATES
    )
    fleet = baseline_report(_health(), 987, 2, 2, fourth_vibration)
    assert fleet["machines"] == 2 and fleet["n_windows"] == 2 * 2 * 6
    assert fleet["other_speed_windows_told"] == 1.0

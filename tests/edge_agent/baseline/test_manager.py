"""Given the baseline manager over a real directory, assets commission, learn, survive restarts and obey operators."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edge_agent.baseline.manager import AssetPlan, BaselineActionRejected, BaselineManager
from edge_agent.baseline.store import BASELINE_FILE, PROGRESS_FILE, BaselineStore
from edge_agent.config import BaselineTuning
from edge_agent.ingest.vibration import VibrationWindow
from edge_agent.pipelines.maintenance import HealthOutcome
from tests.edge_agent.baseline.signals import (
    BEARING,
    FS,
    MASKED_FS,
    MASKED_RPM,
    RPM,
    assessment,
    masked_fault_window,
    observe,
    window,
)

MODEL = "bearing-health@1.0.0"


class Clock:
    """Wall time the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class Harness:
    """A manager on a directory, recording its events, upstream records and counters; restart() makes a new one."""

    def __init__(self, directory: Path, **tuning: Any) -> None:
        self.directory = directory
        self.tuning = BaselineTuning.model_validate({"windows": 12, "min_windows": 6, **tuning})
        self.clock = Clock()
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.upstream: list[tuple[str, str, dict[str, Any]]] = []
        self.counts: list[tuple[str, str]] = []
        self.manager = self.restart()

    def restart(self) -> BaselineManager:
        self.manager = BaselineManager(
            BaselineStore(self.directory),
            {"pump-1": AssetPlan("bearing-health", self.tuning)},
            emit=lambda event_type, **detail: self.events.append((event_type, detail)),
            upstream=lambda stream, priority, doc: self.upstream.append((stream, priority, doc)),
            count=lambda kind, asset: self.counts.append((kind, asset)),
            save_interval_s=5.0,
            clock=self.clock,
        )
        self.manager.start()
        return self.manager

    def feed(self, seed: int, *, state: str = "healthy", rpm: float = RPM, **signal: Any) -> dict[str, Any]:
        samples = window(seed, rpm=rpm, **signal)
        _, features = observe(samples, rpm)
        outcome = HealthOutcome(assessment(state), features, 1.0)
        return self.manager.judge_window("pump-1", MODEL, VibrationWindow(samples, FS, rpm, BEARING), outcome)

    def feed_masked(self, seed: int, impact_g: float) -> dict[str, Any]:
        """A window of the fan whose frame mode masks faint outer-race impacts (the absolute model says healthy)."""
        samples = masked_fault_window(seed, impact_g)
        _, features = observe(samples, MASKED_RPM, MASKED_FS)
        outcome = HealthOutcome(assessment("healthy"), features, 1.0)
        window_ = VibrationWindow(samples, MASKED_FS, MASKED_RPM, BEARING)
        return self.manager.judge_window("pump-1", MODEL, window_, outcome)

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.events]

    def row(self) -> dict[str, Any]:
        return self.manager.describe()[0]


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path / "baselines")


def test_given_a_new_asset_when_its_windows_arrive_then_it_commissions_and_then_judges_against_its_baseline(
    harness: Harness,
) -> None:
    # when the first windows arrive
    first = harness.feed(0)
    # then the result says commissioning, with progress, severity and the model's own state
    assert first["baseline"]["status"] == "commissioning" and first["baseline"]["progress"] == [1, 12]
    assert first["severity"]["iso_zone"] in ("A", "B") and first["severity"]["velocity_rms_mm_s"] > 0
    assert first["state"] == "healthy" and "absolute_state" not in first
    for seed in range(1, 12):
        harness.feed(seed)
    # then the twelfth window finishes commissioning: learned, saved, reported upstream, announced
    assert harness.kinds() == ["baseline_learned"]
    assert harness.row()["status"] == "learned" and harness.row()["levels"]["order_1x_g"] > 0.05
    assert (harness.directory / "pump-1" / BASELINE_FILE).is_file()
    assert not (harness.directory / "pump-1" / PROGRESS_FILE).exists()
    stream, priority, document = harness.upstream[0]
    assert (stream, priority, document["state"]) == ("baseline/pump-1", "event", "learned")
    assert document["model"] == {"name": "bearing-health", "version": "1.0.0"} and document["baseline"]["windows"] == 12
    # and a later window of the same machine is judged against it
    later = harness.feed(100, state="imbalance")
    assert later["baseline"]["status"] == "used" and isinstance(later["baseline"]["deviation"], float)
    assert later["state"] == "healthy" and later["absolute_state"] == "imbalance"
    assert ("baseline_changed", "pump-1") in harness.counts


def test_given_commissioning_half_done_when_the_agent_restarts_then_it_resumes_the_count(harness: Harness) -> None:
    for seed in range(5):
        harness.feed(seed)
    # when the progress is saved by the main loop's tick (after the save interval) and the agent is killed
    harness.clock.now += 6
    harness.manager.tick()
    harness.feed(5)  # seen after the last save: lost by a kill -9, which is the documented window
    manager = harness.restart()
    # then commissioning resumes at the saved count and finishes after the remaining windows
    assert ("baseline_resumed", {"asset": "pump-1", "windows": 5, "of": 12}) in harness.events
    assert manager.describe()[0]["progress"] == [5, 12]
    for seed in range(6, 13):
        harness.feed(seed)
    assert harness.row()["status"] == "learned"


def test_given_a_learned_baseline_when_the_agent_restarts_then_it_keeps_it(harness: Harness) -> None:
    for seed in range(12):
        harness.feed(seed)
    learned = harness.row()
    harness.events.clear()
    harness.restart()
    assert harness.events == []
    assert harness.row()["status"] == "learned" and harness.row()["levels"] == learned["levels"]
    assert harness.feed(50)["baseline"]["status"] == "used"


@pytest.mark.parametrize("name", [BASELINE_FILE, PROGRESS_FILE])
def test_given_a_corrupt_file_when_the_agent_starts_then_it_reports_it_and_commissions_again(
    harness: Harness, name: str
) -> None:
    for seed in range(12 if name == BASELINE_FILE else 3):
        harness.feed(seed)
    harness.manager.flush()
    (harness.directory / "pump-1" / name).write_text('{"format": 1, "state": "learned", "baseline": {"asset_id"')
    harness.events.clear()
    harness.restart()
    kind, detail = harness.events[0]
    assert kind == "baseline_corrupt" and detail["file"] == name and Path(detail["moved_to"]).is_file()
    assert harness.row()["status"] == "commissioning" and harness.row()["progress"] == [0, 12]
    assert harness.feed(1)["baseline"]["status"] == "commissioning"


def test_given_a_learned_baseline_when_an_operator_resets_it_through_a_request_file_then_commissioning_restarts(
    harness: Harness,
) -> None:
    for seed in range(12):
        harness.feed(seed)
    # when the CLI leaves a reset request and the main loop ticks
    BaselineStore(harness.directory).request("pump-1", "reset", "cli:ann")
    harness.clock.now += 2
    harness.manager.tick()
    # then the baseline is forgotten, commissioning starts over, and the event names who asked
    assert ("baseline_reset", {"asset": "pump-1", "by": "cli:ann", "was": "learned"}) in harness.events
    assert harness.row()["status"] == "commissioning"
    assert not (harness.directory / "pump-1" / BASELINE_FILE).exists()
    assert BaselineStore(harness.directory).pending() == []
    assert harness.feed(99)["baseline"]["progress"] == [1, 12]


def test_given_too_few_windows_when_an_operator_finishes_then_it_is_refused_and_with_enough_it_learns(
    harness: Harness,
) -> None:
    for seed in range(3):
        harness.feed(seed)
    with pytest.raises(BaselineActionRejected, match="3 windows; finishing needs at least 6"):
        harness.manager.finish("pump-1", "operator:ann")
    for seed in range(3, 7):
        harness.feed(seed)
    assert harness.manager.finish("pump-1", "operator:ann") == "learned"
    assert harness.row()["decided_by"] == "operator:ann" and harness.row()["learned_windows"] == 7
    with pytest.raises(BaselineActionRejected, match="unknown asset"):
        harness.manager.reset("pump-9", "operator:ann")


def test_given_a_rough_machine_when_commissioning_ends_then_the_baseline_is_refused_and_states_stay_absolute(
    harness: Harness,
) -> None:
    # a machine already in ISO zone D while commissioning (a strong 1x: far over 7.1 mm/s)
    for seed in range(12):
        harness.feed(seed, orders=(2.0, 0.1, 0.05))
    kind, detail = harness.events[-1]
    assert kind == "baseline_refused" and "ISO zone D" in detail["reason"]
    assert harness.upstream[-1][2]["state"] == "refused" and harness.upstream[-1][2]["reason"] == detail["reason"]
    result = harness.feed(20, state="imbalance", orders=(2.0, 0.1, 0.05))
    assert result["baseline"]["status"] == "refused" and result["baseline"]["reason"] == detail["reason"]
    assert result["state"] == "imbalance" and result["severity"]["iso_zone"] == "D"
    # and the refusal survives a restart until someone resets
    harness.restart()
    assert harness.row()["status"] == "refused" and harness.row()["reason"] == detail["reason"]


def test_given_a_baseline_from_one_speed_when_the_machine_runs_at_another_then_states_fall_back_and_say_so(
    harness: Harness,
) -> None:
    for seed in range(12):
        harness.feed(seed)
    result = harness.feed(30, state="imbalance", rpm=2950.0)
    assert result["baseline"]["status"] == "other_speed" and result["state"] == "imbalance"
    assert "absolute model only" in result["baseline"]["reasons"][0]
    assert harness.row()["last_status"] == "other_speed"


def test_given_commissioning_hours_when_they_pass_with_enough_windows_then_the_tick_finishes_it(
    tmp_path: Path,
) -> None:
    harness = Harness(tmp_path / "b", windows=1000, min_windows=6, commissioning_hours=2.0)
    for seed in range(7):
        harness.feed(seed)
    harness.clock.now += 1.9 * 3600
    harness.manager.tick()
    assert harness.row()["status"] == "commissioning"
    harness.clock.now += 0.2 * 3600
    harness.manager.tick()
    assert harness.row()["status"] == "learned" and harness.events[-1][1]["by"] == "time"


def test_given_baselines_off_for_an_asset_then_results_carry_severity_but_no_commissioning(tmp_path: Path) -> None:
    harness = Harness(tmp_path / "b", enabled=False)
    result = harness.feed(0)
    assert result["baseline"]["status"] == "none" and "severity" in result
    assert harness.row()["status"] == "off" and not (tmp_path / "b" / "pump-1").exists()
    with pytest.raises(BaselineActionRejected, match="off"):
        harness.manager.reset("pump-1", "operator:ann")


def test_given_faint_impacts_when_an_asset_keeps_sending_then_its_windows_pool_until_a_new_baseline(
    tmp_path: Path,
) -> None:
    harness = Harness(tmp_path / "baselines", windows=30, min_windows=10)
    for seed in range(30):
        harness.feed_masked(seed, 0.0)
    assert harness.row()["status"] == "learned"
    # when impacts too faint for one window keep coming, then from the fourth window on they are outer race
    states = [harness.feed_masked(seed, 0.0015) for seed in range(500, 508)]
    assert [s["state"] for s in states[3:]] == ["outer_race"] * 5
    assert "over its last 4 windows" in states[-1]["baseline"]["reasons"][0]
    # when the operator recommissions, then the evidence of the old baseline is not pooled into the new one's
    harness.manager.apply("pump-1", "reset", "cli:ann")
    for seed in range(30):
        harness.feed_masked(seed, 0.0)
    first = harness.feed_masked(500, 0.0015)
    assert not any("over its last" in reason for reason in first["baseline"]["reasons"])

"""Given tag values as the ingest delivers them, when timelines are built, then bad input never corrupts them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edge_agent.config_line import LineConfig
from edge_agent.ingest.tags import QUALITY_STALE, TagUpdate
from edge_agent.line.engine import LineEngine
from edge_agent.line.persist import LineStateFile
from edge_agent.line.tracker import LineTracker
from edge_agent.line.unit import counter_delta

T0 = 1_700_000_000_000  # ms, inside the "day" shift
WALL = T0 / 1000 + 100_000  # the wall clock is well after the samples


def _config(**unit: Any) -> LineConfig:
    base = {
        "id": "press-1",
        "state_tag": "press-1/state",
        "states": {"1": "running", "2": "idle", "3": "fault"},
        "counters": {"total": "press-1/total", "reject": "press-1/reject", "rollover": 65536},
        "ideal_cycle_s": {"default": 1.0},
    }
    return LineConfig.model_validate({"units": [{**base, **unit}]})


def _tracker(config: LineConfig) -> tuple[LineTracker, list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []
    return LineTracker(config, emit=lambda kind, **d: events.append({"type": kind, **d}), wall=lambda: WALL), events


def _tag(tracker: LineTracker, tag: str, value: Any, s: float, quality: int = 192) -> None:
    tracker.tag(TagUpdate("press-1", tag, value, int(T0 + s * 1000), quality))


@pytest.mark.parametrize(
    ("last", "value", "expected"),
    [(10, 15, (5, None)), (65530, 4, (10, "rollover")), (500, 3, (3, "reset")), (40000, 0, (0, "reset"))],
)
def test_counter_deltas_handle_rollover_and_reset(last: int, value: int, expected: tuple[int, str | None]) -> None:
    # given two readings of a 16-bit counter; when the delta is taken; then a wrap and a reset are told apart
    assert counter_delta(last, value, 65536) == expected


def test_counters_reset_roll_over_and_go_backwards_without_losing_parts() -> None:
    # given a running press whose total counter wraps at 65536 and is then reset by an operator
    tracker, events = _tracker(_config())
    _tag(tracker, "state", 1, 0)
    for s, total in ((0, 65530), (10, 65535), (20, 4), (30, 9), (40, 2), (50, 7)):
        _tag(tracker, "total", total, s)
    _tag(tracker, "reject", 0, 0)
    _tag(tracker, "reject", 2, 45)
    # when the parts are summed
    parts = tracker.units["press-1"].parts
    # then 5 + 5 + 5 + (reset) 2 + 5 = 22 parts were made, 2 of them rejects, and each oddity is an event
    assert sum(p.good + p.reject for p in parts) == 22
    assert sum(p.reject for p in parts) == 2
    kinds = {e["problem"] for e in events}
    assert {"counter_rollover", "counter_reset"} <= kinds


def test_unknown_states_future_and_late_samples_are_counted_not_trusted() -> None:
    # given a unit that runs, then sends a value the map does not know, a sample from the future and a late one
    tracker, events = _tracker(_config())
    _tag(tracker, "state", 1, 0)
    _tag(tracker, "state", 99, 60)
    _tag(tracker, "state", 1, 120)
    tracker.tag(TagUpdate("press-1", "state", 3, int((WALL + 3600) * 1000)))
    _tag(tracker, "state", 3, 100)  # older than the last state sample
    _tag(tracker, "state", 1, 180)
    # when the timeline is read
    segments = tracker.units["press-1"].view(int(T0 + 180_000), None)
    # then the unmapped minute is unknown, and the future and late samples changed nothing
    assert [(s.state, (s.end_ms - s.start_ms) // 1000) for s in segments] == [
        ("running", 60),
        ("unknown", 60),
        ("running", 60),
    ]
    assert {e["problem"] for e in events} == {"unknown_state", "future_timestamp", "late_sample"}


def test_a_lost_source_is_unknown_until_the_next_sample_and_its_parts_are_set_aside() -> None:
    # given a running unit whose broker connection drops at 60 s and comes back at 120 s
    tracker, _ = _tracker(_config())
    _tag(tracker, "state", 1, 0)
    _tag(tracker, "total", 100, 0)
    _tag(tracker, "state", 1, 60)
    _tag(tracker, "total", 160, 60)
    tracker.connection("mqtt", False)
    _tag(tracker, "state", 1, 120)
    _tag(tracker, "total", 250, 121)
    _tag(tracker, "total", 255, 126)
    # when the timeline and parts are read
    unit = tracker.units["press-1"]
    segments = unit.view(int(T0 + 126_000), None)
    # then 60-120 s is covered by no segment (unknown), and the 90 parts counted across the gap are not known
    assert [(s.start_ms - T0, s.end_ms - T0) for s in segments] == [(0, 60_000), (120_000, 126_000)]
    assert [(p.good, p.known) for p in unit.parts] == [(60, True), (90, False), (5, True)]


def test_a_stale_sparkplug_state_ends_knowledge_at_the_last_good_sample() -> None:
    # given a running unit whose edge node dies (Sparkplug marks its metrics stale)
    tracker, _ = _tracker(_config())
    _tag(tracker, "state", 1, 0)
    _tag(tracker, "state", 1, 30)
    _tag(tracker, "state", 1, 50, quality=QUALITY_STALE)
    # when read later; then it is known for 30 s only
    segments = tracker.units["press-1"].view(int(T0 + 200_000), None)
    assert [(s.end_ms - s.start_ms) // 1000 for s in segments] == [30]


def test_a_restart_resumes_the_saved_timeline_and_counters(tmp_path: Path) -> None:
    # given a tracker that saw 60 s of running and 60 parts, saved to disk
    config = _config()
    tracker, _ = _tracker(config)
    for s in range(0, 61, 10):
        _tag(tracker, "state", 1, s)
        _tag(tracker, "total", 1000 + s, s)
    published: list[tuple[str, bytes]] = []
    state_file = LineStateFile(tmp_path / "line-state.json")
    engine = LineEngine(config, "ns", tracker, state_file, lambda t, p: published.append((t, p)), lambda *a: None)
    engine.save()
    # when a new tracker resumes it and the counter goes on from where it was
    fresh, _ = _tracker(config)
    LineEngine(config, "ns", fresh, state_file, lambda t, p: None, lambda *a: None, wall=lambda: WALL).start()
    _tag(fresh, "state", 1, 70)
    _tag(fresh, "total", 1070, 70)
    _tag(fresh, "total", 1080, 80)
    # then the old parts are there, the 10 made while it was down are set aside, and the new ones count
    unit = fresh.units["press-1"]
    assert [(p.good, p.known) for p in unit.parts] == [(10, True)] * 6 + [(10, False), (10, True)]
    assert unit.view(int(T0 + 80_000), None)[0].end_ms == T0 + 60_000


def test_a_shift_calendar_that_overlaps_itself_is_refused() -> None:
    # given two shifts that overlap by an hour; when validated; then the error names them
    with pytest.raises(ValueError, match="overlap"):
        early, late = {"name": "early", "start": "06:00", "hours": 8}, {"name": "late", "start": "13:00", "hours": 8}
        LineConfig.model_validate({"shifts": [early, late]})

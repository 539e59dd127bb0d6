"""Given a hand-made state timeline and part counts, when KPIs are computed, then they equal hand-computed values."""

from __future__ import annotations

import pytest

from edge_agent.line.kpi import PartCount, Segment, aggregate, compute_kpis

S = 1000  # ms per second


def _ideal(product: str | None) -> float:
    return 20.0 if product == "B" else 10.0


SEGMENTS = [
    Segment(0 * S, 600 * S, "running", "A"),
    Segment(600 * S, 620 * S, "idle", "A"),  # 20 s: a small stop
    Segment(620 * S, 1200 * S, "running", "A"),
    Segment(1200 * S, 1500 * S, "fault", "A"),
    Segment(1500 * S, 1800 * S, "changeover", "B"),
    Segment(1800 * S, 2100 * S, "idle", "B"),  # inside the planned break
    Segment(2100 * S, 2400 * S, "starved", "B"),  # 300 s: not small
    Segment(2400 * S, 3000 * S, "running", "B"),
    # 3000-3300: no data at all (broker outage)
    Segment(3300 * S, 3600 * S, "running", "B"),
]
PARTS = [
    PartCount(500 * S, 50, 0, "A"),
    PartCount(1100 * S, 40, 5, "A"),
    PartCount(2300 * S, 5, 2, "B"),  # 500 s after the changeover: start-up rejects
    PartCount(2900 * S, 20, 1, "B"),
    PartCount(3200 * S, 10, 0, "B", known=False),
    PartCount(3500 * S, 10, 0, "B"),
]
BREAKS = [(1800 * S, 2100 * S)]


def test_an_hour_with_every_loss_matches_the_hand_computed_figures() -> None:
    # given the hour above; when its KPIs are computed
    k = compute_kpis(SEGMENTS, PARTS, (0, 3600 * S), BREAKS, _ideal, small_stop_max_s=60, startup_s=600)
    # then the times add up: 2080 running + 20 small + 300 fault + 300 setup + 300 starved = 3000 planned
    assert (k.running_s, k.small_stops_s, k.breakdowns_s, k.setup_s, k.other_stops_s) == (2080, 20, 300, 300, 300)
    assert (k.planned_s, k.planned_downtime_s, k.unknown_s) == (3000, 300, 300)
    # and the factors are A = 2100/3000, P = (95*10 + 38*20)/2100, Q = 125/133
    assert k.availability == pytest.approx(0.7)
    assert k.performance == pytest.approx(1710 / 2100)
    assert k.quality == pytest.approx(125 / 133)
    assert k.oee == pytest.approx(0.7 * 1710 / 2100 * 125 / 133)
    # and the losses: reduced speed 2080 - 1710, defects 5*10 + 1*20, start-up rejects 2*20, good parts 900 + 700
    assert k.reduced_speed_s == pytest.approx(370)
    assert (k.defects_s, k.startup_rejects_s, k.fully_productive_s) == (70, 40, 1600)
    total_losses = sum(k.as_dict()["losses_min"].values()) * 60
    assert total_losses + k.fully_productive_s == pytest.approx(k.planned_s, abs=0.2)  # minutes to 3 places
    assert (k.faults, k.mtbf_s, k.mttr_s, k.small_stops) == (1, 2100, 300, 1)
    assert (k.parts_in_unknown, k.startup_reject) == (10, 2)
    assert k.throughput_per_h == pytest.approx(133 / (3000 / 3600))


def test_a_window_that_cuts_a_stop_keeps_its_class_by_its_whole_length() -> None:
    # given a 300 s starved stop of which the window sees 30 s
    segments = [Segment(0, 100 * S, "running"), Segment(100 * S, 400 * S, "starved")]
    # when the window ends 30 s into it
    k = compute_kpis(segments, [], (0, 130 * S), [], _ideal, small_stop_max_s=60, startup_s=0)
    # then those 30 s are an availability loss, not a small stop
    assert (k.other_stops_s, k.small_stops_s, k.availability) == (30, 0, pytest.approx(100 / 130))


def test_no_data_at_all_is_unknown_not_down() -> None:
    # given a window with no segments; when its KPIs are computed; then nothing is planned, everything unknown
    k = compute_kpis([], [], (0, 60 * S), [], _ideal, small_stop_max_s=60, startup_s=0)
    assert (k.unknown_s, k.planned_s, k.availability, k.oee) == (60, 0, None, None)


def test_the_line_sums_its_units() -> None:
    # given two units, one perfect and one stopped half the time
    a = compute_kpis([Segment(0, 100 * S, "running")], [PartCount(50 * S, 10, 0)], (0, 100 * S), [], _ideal, 60, 0)
    b = compute_kpis(
        [Segment(0, 50 * S, "running"), Segment(50 * S, 100 * S, "fault")],
        [PartCount(40 * S, 5, 0)],
        (0, 100 * S),
        [],
        _ideal,
        60,
        0,
    )
    # when aggregated; then the ratios come from the summed times
    line = aggregate([a, b])
    assert line.availability == pytest.approx(150 / 200)
    assert line.performance == pytest.approx(150 / 150)
    assert line.breakdowns_s == 50 and line.good == 15

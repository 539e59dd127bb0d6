"""Given part counters, states, products and speed setpoints as the ingest delivers them, when cycles are
extracted, then each is the running time between two consecutive parts with the features the model needs."""

from __future__ import annotations

from typing import Any

from edge_agent.config_line import LineConfig
from edge_agent.ingest.tags import TagUpdate
from edge_agent.line.cycle_monitor import CycleMonitor
from edge_agent.line.tracker import LineTracker

T0 = 1_700_000_000_000
STATES = {"1": "running", "2": "idle", "3": "blocked", "7": "changeover"}


class Line:
    """Two units (press-1 feeds weld-2) with a monitor that has no model: every cycle is uploaded unjudged."""

    def __init__(self, wait_s: float = 60.0) -> None:
        units = [
            {
                "id": uid,
                "state_tag": f"{uid}/state",
                "states": STATES,
                "counters": {"total": f"{uid}/total"},
                "product_tag": f"{uid}/product",
                "speed_tag": f"{uid}/speed",
                "ideal_cycle_s": {"default": 4.0},
                **({"upstream": "press-1"} if uid == "weld-2" else {}),
            }
            for uid in ("press-1", "weld-2")
        ]
        cycles = {"upload_cycles": 1, "upstream_wait_s": wait_s}
        self.config = LineConfig.model_validate({"units": units, "cycles": cycles})
        self.wall = T0 / 1000 + 10
        self.tracker = LineTracker(self.config, emit=lambda kind, **d: None, wall=lambda: self.wall)
        self.uploads: list[dict[str, Any]] = []
        self.monitor = CycleMonitor(
            self.config, "ns", self.tracker, lambda: None, lambda t, p: None, self._upstream, wall=lambda: self.wall
        )

    def _upstream(self, stream: str, priority: str, document: dict[str, Any]) -> None:
        if stream.startswith("cycles/"):
            self.uploads.append(document)

    def tag(self, unit: str, tag: str, value: Any, s: float) -> None:
        self.wall = max(self.wall, T0 / 1000 + s + 10)
        self.tracker.tag(TagUpdate(unit, tag, value, int(T0 + s * 1000)))

    def start(self, unit: str, s: float = 0.0, product: str = "A", speed: float = 100.0) -> None:
        self.tag(unit, "product", product, s)
        self.tag(unit, "speed", speed, s)
        self.tag(unit, "state", 1, s)
        self.tag(unit, "total", 0, s)

    def cycles(self, unit: str) -> list[dict[str, Any]]:
        """(seconds, product, speed, upstream_down) of the uploaded cycles of a unit, after a tick."""
        self.monitor.tick()
        rows = [row for d in self.uploads if d["unit"] == unit for row in d["cycles"]]
        return [{"seconds": r[1], "product": r[2], "speed": r[3], "upstream_down": r[4], "verdict": r[5]} for r in rows]


def test_a_cycle_is_the_time_between_consecutive_parts_with_its_product_and_speed() -> None:
    # given a press running product A at speed 90, one counter reading per part
    line = Line()
    line.start("press-1", speed=90.0)
    for n, s in enumerate((1.0, 5.5, 10.1, 14.6), start=1):
        line.tag("press-1", "total", n, s)
    line.tag("press-1", "state", 1, 30.0)  # the state heartbeat covers them
    # when the monitor looks; then three cycles (the first part has no predecessor) with their features
    cycles = line.cycles("press-1")
    assert [c["seconds"] for c in cycles] == [4.5, 4.6, 4.5]
    assert {(c["product"], c["speed"], c["verdict"]) for c in cycles} == {("A", 90.0, "unjudged")}


def test_a_visible_stop_inside_a_cycle_is_not_cycle_time() -> None:
    # given a part at 1 s, a 20 s blocked stop from 3 s, the next part at 26 s
    line = Line()
    line.start("press-1")
    line.tag("press-1", "total", 1, 1.0)
    line.tag("press-1", "state", 3, 3.0)
    line.tag("press-1", "state", 1, 23.0)
    line.tag("press-1", "total", 2, 26.0)
    line.tag("press-1", "state", 1, 60.0)
    # then the cycle counts only the running time: 25 s - 20 s stopped
    assert [c["seconds"] for c in line.cycles("press-1")] == [5.0]


def test_no_cycle_spans_a_changeover_a_speed_change_or_a_batch_of_parts() -> None:
    line = Line()
    line.start("press-1")
    line.tag("press-1", "total", 1, 1.0)
    # given a changeover to product B between two parts
    line.tag("press-1", "state", 7, 2.0)
    line.tag("press-1", "product", "B", 2.0)
    line.tag("press-1", "state", 1, 100.0)
    line.tag("press-1", "total", 2, 105.0)
    # and a speed change between the next two
    line.tag("press-1", "speed", 110.0, 107.0)
    line.tag("press-1", "total", 3, 109.0)
    # and a reading of three parts at once (a restart, a sampled counter), then one more part
    line.tag("press-1", "total", 6, 120.0)
    line.tag("press-1", "total", 7, 124.0)
    line.tag("press-1", "total", 8, 128.0)
    line.tag("press-1", "state", 1, 130.0)
    # then only the last cycle is one: product B at speed 110
    assert [(c["seconds"], c["product"], c["speed"]) for c in line.cycles("press-1")] == [(4.0, "B", 110.0)]


def test_the_upstream_down_share_is_waited_for_and_measured() -> None:
    line = Line()
    line.start("press-1")
    line.start("weld-2")
    # given weld-2 parts at 1 s and 11 s while press-1 (its feeder) was blocked from 3 s to 8 s
    line.tag("weld-2", "total", 1, 1.0)
    line.tag("weld-2", "total", 2, 11.0)
    line.tag("weld-2", "state", 1, 12.0)
    # when press-1's tags have not yet reached 11 s, then the cycle waits for them
    assert line.cycles("weld-2") == []
    line.tag("press-1", "state", 3, 3.0)
    line.tag("press-1", "state", 1, 8.0)
    line.tag("press-1", "state", 1, 12.0)
    # and once they have, the cycle knows its feeder was down half of it
    assert [(c["seconds"], c["upstream_down"]) for c in line.cycles("weld-2")] == [(10.0, 0.5)]


def test_a_feeder_that_never_reports_leaves_the_share_unknown_after_the_wait() -> None:
    line = Line(wait_s=5.0)
    line.start("weld-2")
    line.tag("weld-2", "total", 1, 1.0)
    line.tag("weld-2", "total", 2, 6.0)
    line.tag("weld-2", "state", 1, 7.0)
    assert line.cycles("weld-2") == []
    # when the wait is over, then the cycle is uploaded with the feeder's share unknown (null)
    line.wall += 6
    assert [(c["seconds"], c["upstream_down"]) for c in line.cycles("weld-2")] == [(5.0, None)]


def test_a_restart_keeps_the_speed_setpoint_a_plc_reports_only_on_change() -> None:
    # given a press at speed 90, whose PLC reports the setpoint only when it changes
    line = Line()
    line.start("press-1", speed=90.0)
    saved = line.monitor.to_json()
    # when the agent restarts (a new tracker and monitor resumed from the saved state) and parts come again
    resumed = Line()
    resumed.monitor.restore(saved)
    resumed.tag("press-1", "state", 1, 100.0)
    resumed.tag("press-1", "product", "A", 100.0)
    for n, s in enumerate((100.0, 101.0, 105.9)):
        resumed.tag("press-1", "total", n, s)
    resumed.tag("press-1", "state", 1, 110.0)
    # then the cycle still carries the setpoint
    assert [(c["seconds"], c["speed"]) for c in resumed.cycles("press-1")] == [(4.9, 90.0)]

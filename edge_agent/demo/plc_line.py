"""The simulated line's PLCs stepped through a shift (time-compressed or not), as tag samples with timestamps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edge_agent.demo.plc_sim import SimUnit, SimUnitSpec


@dataclass(frozen=True)
class Sample:
    """One tag value as a PLC reports it."""

    unit: str
    tag: str
    value: Any
    ts_ms: int


DEMO_UNITS = (
    # a press on plain MQTT tags whose 16-bit counters roll over early in the shift and are reset later
    SimUnitSpec("press-1", {"A": 4.0, "B": 5.0}, counter_start=65000, reset_at_s=3 * 3600 + 17),
    # a welder fed by the press whose cycle starts to drift 1 h into the shift (a wearing electrode)
    SimUnitSpec(
        "weld-2", {"A": 6.0, "B": 6.5}, speed_factor=1.05, degrade_onset_s=3600, degrade_per_h=0.2, upstream="press-1"
    ),
    # a packer on OPC UA fed by the welder, string states
    SimUnitSpec(
        "pack-3", {"A": 3.0, "B": 3.0}, speed_factor=1.15, reject_rate=0.01, string_states=True, upstream="weld-2"
    ),
)


class PlcLine:
    """Steps every unit second by second from start_ms; reports changes, counters and heartbeats as samples.

    Counters are reported at every part (stamped with the part's exact time, as an OPC UA subscription or a
    report-by-exception PLC does) and again every counter_period_s.
    """

    def __init__(
        self,
        specs: tuple[SimUnitSpec, ...],
        start_ms: int,
        length_s: float,
        breaks_s: list[tuple[float, float]],
        seed: int = 13,
        startup_s: float = 300.0,
        counter_period_s: int = 10,
        heartbeat_s: int = 30,
    ) -> None:
        self.units = [SimUnit(spec, length_s, seed + 10 * i, startup_s) for i, spec in enumerate(specs)]
        self.start_ms = start_ms
        self.length_s = length_s
        self.breaks_s = breaks_s
        self.counter_period_s = counter_period_s
        self.heartbeat_s = heartbeat_s
        self.t = 0  # seconds since start_ms, the next step to run
        self._last_state: dict[str, Any] = {}
        self._last_speed: dict[str, float] = {}
        self._last_reject: dict[str, int] = {}

    @property
    def truths(self) -> dict[str, Any]:
        """Ground truth per unit."""
        return {u.spec.id: u.truth for u in self.units}

    def _ts(self, t: float) -> int:
        return self.start_ms + int(t * 1000)

    def advance(self, to_s: float, gap: frozenset[str] = frozenset()) -> list[Sample]:
        """Run the steps before to_s; units in gap (an outage) report nothing and their truth counts it unknown."""
        out: list[Sample] = []
        while self.t < min(to_s, self.length_s):
            t = self.t
            in_break = any(b0 <= t < b1 for b0, b1 in self.breaks_s)
            running: dict[str, bool] = {}
            for unit in self.units:  # in line order: an upstream unit has stepped before the units it feeds
                uid = unit.spec.id
                upstream = running.get(unit.spec.upstream or "", True)
                before = (unit.total, unit.reject)  # the periodic reading comes at the step's start
                name = unit.step(t, 1.0, in_break, uid in gap, upstream)
                running[uid] = name == "running"
                value = unit.state_value(name)
                changed = self._last_state.get(uid) != value or self._last_speed.get(uid) != unit.speed
                self._last_state[uid], self._last_speed[uid] = value, unit.speed
                if uid in gap:
                    continue
                if changed or t % self.heartbeat_s == 0:
                    out.append(Sample(uid, "product", unit.product, self._ts(t)))
                    out.append(Sample(uid, "speed", unit.speed, self._ts(t)))
                    out.append(Sample(uid, "state", value, self._ts(t)))
                if t % self.counter_period_s == 0:
                    out += self._counters(unit, t, before)
                out += self._parts(unit)
            self.t += 1
        return out

    def _parts(self, unit: SimUnit) -> list[Sample]:
        """The total counter at each part finished in this step (and the reject counter when it moved)."""
        uid = unit.spec.id
        out = []
        for at, total, reject in unit.parts_done:
            ts = self._ts(at)
            out.append(Sample(uid, "total", total, ts))
            if self._last_reject.get(uid) != reject:
                self._last_reject[uid] = reject
                out.append(Sample(uid, "reject", reject, ts))
        return out

    def _counters(self, unit: SimUnit, t: float, values: tuple[int, int] | None = None) -> list[Sample]:
        # the counter value at the start of step t: parts finished in earlier steps
        uid = unit.spec.id
        total, reject = values or (unit.total, unit.reject)
        return [Sample(uid, "total", total, self._ts(t)), Sample(uid, "reject", reject, self._ts(t))]

    def closing_counts(self) -> list[Sample]:
        """The counters read one millisecond before the next step (the last reading of a shift)."""
        return [Sample(s.unit, s.tag, s.value, s.ts_ms - 1) for u in self.units for s in self._counters(u, self.t)]

    def snapshot(self) -> list[Sample]:
        """Every unit's current state, product and counters at the next step (before and after an outage)."""
        out = []
        for unit in self.units:
            uid = unit.spec.id
            state = self._last_state.get(uid)
            if state is not None:
                out.append(Sample(uid, "product", unit.product, self._ts(self.t)))
                out.append(Sample(uid, "speed", unit.speed, self._ts(self.t)))
                out.append(Sample(uid, "state", state, self._ts(self.t)))
            out += self._counters(unit, self.t)
        return out

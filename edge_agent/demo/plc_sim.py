"""A PLC line simulator with ground truth: states, counters, changeovers, breakdowns, micro-stops, a slowing station."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

PLC_CODES = {"running": 1, "idle": 2, "blocked": 3, "starved": 4, "fault": 5, "planned_stop": 6, "changeover": 7}
MICRO_STOP_S = (3.0, 30.0)


@dataclass(frozen=True)
class SimUnitSpec:
    """One simulated station: ideal cycles, how it misbehaves, and how its PLC encodes things."""

    id: str
    ideal_cycle_s: dict[str, float]
    speed_factor: float = 1.1  # actual cycle / ideal cycle when healthy
    reject_rate: float = 0.02
    startup_reject_rate: float = 0.15
    degrade_onset_s: float | None = None  # from then on the cycle grows...
    degrade_per_h: float = 0.0  # ...by this share of the ideal cycle per hour
    counter_start: int = 0
    rollover: int = 65536
    reset_at_s: float | None = None  # an operator resets the counters to 0 here
    string_states: bool = False  # OPC UA style "RUNNING" instead of PLC integer codes


@dataclass
class Stop:
    """A scheduled stop: [start_s, end_s) in state, and the product made after it (changeovers)."""

    start_s: float
    end_s: float
    state: str
    product: str | None = None

    @property
    def small(self) -> bool:
        """Truth: shorter than the small-stop limit (micro-stops are 3-30 s, long stops >= 120 s)."""
        return self.state in ("idle", "blocked", "starved") and self.end_s - self.start_s < 60


@dataclass
class Truth:
    """Ground truth tallies of one unit, kept apart from what was sent (gaps are unknown time)."""

    seconds: dict[str, float] = field(default_factory=dict)
    good: int = 0
    reject: int = 0
    ideal_s: float = 0.0
    ideal_good_s: float = 0.0
    micro_stops: list[tuple[float, float]] = field(default_factory=list)

    def add(self, category: str, dt: float) -> None:
        """Count dt seconds in a category."""
        self.seconds[category] = self.seconds.get(category, 0.0) + dt

    def factors(self) -> dict[str, float]:
        """Availability, performance, quality and OEE as the simulator knows them."""
        s = self.seconds
        operating = s.get("running", 0) + s.get("small_stops", 0)
        planned = operating + s.get("breakdowns", 0) + s.get("setup", 0) + s.get("other_stops", 0)
        a = operating / planned
        p = self.ideal_s / operating
        q = self.good / (self.good + self.reject)
        return {"availability": a, "performance": p, "quality": q, "oee": a * p * q}


def schedule(spec: SimUnitSpec, length_s: float, seed: int) -> list[Stop]:
    """Stops of one shift: micro-stops every few minutes, long stops, two breakdowns and a mid-shift changeover."""
    rng = random.Random(seed)
    stops: list[Stop] = []
    t = rng.uniform(30, 120)
    products = list(spec.ideal_cycle_s)
    changeover_at = length_s * 0.45
    changed = False
    while t < length_s:
        if not changed and t >= changeover_at:
            stops.append(Stop(t, t + rng.uniform(600, 900), "changeover", products[-1]))
            changed = True
        else:
            roll = rng.random()
            if roll < 0.85:
                stops.append(Stop(t, t + rng.uniform(*MICRO_STOP_S), rng.choice(["idle", "blocked"])))
            elif roll < 0.95:
                stops.append(Stop(t, t + rng.uniform(120, 480), rng.choice(["starved", "blocked", "idle"])))
            else:
                stops.append(Stop(t, t + rng.uniform(300, 900), "fault"))
        t = stops[-1].end_s + rng.expovariate(1 / 240)
    # whole seconds: the PLC scan the simulator steps with (1 s) then sees every stop exactly as scheduled
    return [
        Stop(round(s.start_s), max(round(s.end_s), round(s.start_s) + 3), s.state, s.product)
        for s in stops
        if s.start_s < length_s
    ]


class SimUnit:
    """One station stepping through its shift: state, product, counters and truth."""

    def __init__(self, spec: SimUnitSpec, length_s: float, seed: int, startup_s: float) -> None:
        self.spec = spec
        self.stops = schedule(spec, length_s, seed)
        self.rng = random.Random(seed + 1)
        self.startup_s = startup_s
        self.product = next(iter(spec.ideal_cycle_s))
        self.progress = 0.0
        self.total = spec.counter_start
        self.reject = spec.counter_start // 50
        self.truth = Truth()
        self._stop_index = 0
        self._changeover_end: float | None = None
        self._reset_done = False

    def stop_at(self, t: float) -> Stop | None:
        """The scheduled stop covering t, if any."""
        while self._stop_index < len(self.stops) and self.stops[self._stop_index].end_s <= t:
            finished = self.stops[self._stop_index]
            if finished.state == "changeover":
                self._changeover_end = finished.end_s
                self.product = finished.product or self.product
            self._stop_index += 1
        if self._stop_index < len(self.stops) and self.stops[self._stop_index].start_s <= t:
            return self.stops[self._stop_index]
        return None

    def cycle_s(self, t: float) -> float:
        """The actual cycle at t: healthy speed, plus the drift of a degrading station."""
        spec = self.spec
        ideal = spec.ideal_cycle_s[self.product]
        drift = 0.0
        if spec.degrade_onset_s is not None and t > spec.degrade_onset_s:
            drift = spec.degrade_per_h * (t - spec.degrade_onset_s) / 3600
        return ideal * (spec.speed_factor + drift)

    def step(self, t: float, dt: float, in_break: bool, gap: bool) -> str:
        """Advance [t, t+dt): returns the PLC state name; truth counts it unless it falls in a gap."""
        spec = self.spec
        if spec.reset_at_s is not None and t >= spec.reset_at_s and not self._reset_done:
            self.total = self.reject = 0
            self._reset_done = True
        stop = self.stop_at(t)
        state = "planned_stop" if in_break else (stop.state if stop else "running")
        if in_break:
            category = "planned_downtime"
        elif stop is None:
            category = "running"
        else:
            category = {"fault": "breakdowns", "changeover": "setup"}.get(
                stop.state, "small_stops" if stop.small else "other_stops"
            )
        if not gap:
            self.truth.add(category, dt)
            seen = self.truth.micro_stops
            if category == "small_stops" and stop is not None and (not seen or seen[-1][0] != stop.start_s):
                seen.append((stop.start_s, stop.end_s))
        if state == "running":
            self.progress += dt / self.cycle_s(t)
            while self.progress >= 1.0:
                self.progress -= 1.0
                self._part(t, gap)
        return state

    def _part(self, t: float, gap: bool) -> None:
        startup = self._changeover_end is not None and t - self._changeover_end <= self.startup_s
        rejected = self.rng.random() < (self.spec.startup_reject_rate if startup else self.spec.reject_rate)
        self.total = (self.total + 1) % self.spec.rollover
        if rejected:
            self.reject = (self.reject + 1) % self.spec.rollover
        if gap:
            return
        ideal = self.spec.ideal_cycle_s[self.product]
        self.truth.ideal_s += ideal
        if rejected:
            self.truth.reject += 1
        else:
            self.truth.good += 1
            self.truth.ideal_good_s += ideal

    def state_value(self, state: str) -> Any:
        """The state as this PLC encodes it."""
        return state.upper() if self.spec.string_states else PLC_CODES[state]

"""A PLC line simulator with ground truth: states, counters, changeovers, breakdowns, micro-stops, a slowing station."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

PLC_CODES = {"running": 1, "idle": 2, "blocked": 3, "starved": 4, "fault": 5, "planned_stop": 6, "changeover": 7}
MICRO_STOP_S = (3.0, 30.0)
SPEEDS = (90.0, 100.0, 100.0, 110.0)  # speed setpoints in % an operator picks; nominal is the most common


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
    jitter: float = 0.015  # each cycle's own spread (lognormal sigma)
    hidden_stop_every_s: float | None = 900.0  # mean gap between micro-stops the state tag does not show
    upstream: str | None = None  # the unit feeding this one: while it is not running, cycles take longer
    upstream_slowdown: float = 0.08  # ...by this share (the buffer between them feeds slower)
    speed_change_every_s: float | None = 5400.0  # mean time between speed setpoint changes (SPEEDS)


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
    # micro-stops the PLC state tag showed as running (>= 3 s of them, none in an outage): the cycle model's quarry
    hidden_stops: list[tuple[float, float]] = field(default_factory=list)
    hidden_short: list[tuple[float, float]] = field(default_factory=list)  # 1-2 s running, the rest visible

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


def hidden_schedule(spec: SimUnitSpec, length_s: float, seed: int) -> list[tuple[float, float]]:
    """Micro-stops of 3-30 s the PLC reports as running (a part jams and frees itself), whole seconds."""
    if not spec.hidden_stop_every_s:
        return []
    rng = random.Random(seed + 2)  # its own stream: the visible schedule stays what it was
    out = []
    t = rng.uniform(60, 300)
    while t < length_s:
        start = round(t)
        end = start + max(3, round(rng.uniform(*MICRO_STOP_S)))
        out.append((float(start), float(end)))
        t = end + rng.expovariate(1 / spec.hidden_stop_every_s)
    return out


def speed_schedule(spec: SimUnitSpec, length_s: float, seed: int) -> list[tuple[float, float]]:
    """(from_s, setpoint %) of the speed setpoint; it starts at 100."""
    plan = [(0.0, 100.0)]
    if not spec.speed_change_every_s:
        return plan
    rng = random.Random(seed + 3)
    t = rng.expovariate(1 / spec.speed_change_every_s)
    while t < length_s:
        plan.append((float(round(t)), rng.choice([v for v in SPEEDS if v != plan[-1][1]])))
        t += rng.expovariate(1 / spec.speed_change_every_s)
    return plan


class SimUnit:
    """One station stepping through its shift: state, product, counters and truth."""

    def __init__(self, spec: SimUnitSpec, length_s: float, seed: int, startup_s: float) -> None:
        self.spec = spec
        self.stops = schedule(spec, length_s, seed)
        self.hidden = hidden_schedule(spec, length_s, seed)
        self.speeds = speed_schedule(spec, length_s, seed)
        self.rng = random.Random(seed + 1)
        self.jitter_rng = random.Random(seed + 4)
        self.speed = 100.0
        self.cycle_jitter = 1.0
        self.parts_done: list[tuple[float, int, int]] = []  # (time s, total, reject) of parts finished this step
        self._hidden_index = 0
        self._hidden_seen = 0  # seconds the current hidden stop held the station while the state said running
        self._hidden_gap = False  # part of it fell in an outage: not in the truth
        self._speed_index = 0
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
        """The actual cycle at t: healthy speed at the setpoint, plus the drift of a degrading station."""
        spec = self.spec
        ideal = spec.ideal_cycle_s[self.product]
        drift = 0.0
        if spec.degrade_onset_s is not None and t > spec.degrade_onset_s:
            drift = spec.degrade_per_h * (t - spec.degrade_onset_s) / 3600
        return ideal * (spec.speed_factor + drift) * 100.0 / self.speed

    def _in_hidden_stop(self, t: float, running: bool, gap: bool) -> bool:
        """Whether a hidden micro-stop holds the station at t (only while it runs: a visible stop may cut in)."""
        while self._hidden_index < len(self.hidden) and self.hidden[self._hidden_index][1] <= t:
            self._close_hidden()
        if self._hidden_index >= len(self.hidden) or self.hidden[self._hidden_index][0] > t:
            return False
        self._hidden_seen += int(running)
        self._hidden_gap |= gap
        return running

    def _close_hidden(self) -> None:
        """Truth: a hidden stop that held the running station >= 3 s is a micro-stop the state tag did not show;
        1-2 s of it (the rest under a visible stop) is too short to call either way."""
        start, end = self.hidden[self._hidden_index]
        if not self._hidden_gap and self._hidden_seen >= MICRO_STOP_S[0]:
            self.truth.hidden_stops.append((start, end))
        elif not self._hidden_gap and self._hidden_seen > 0:
            self.truth.hidden_short.append((start, end))
        self._hidden_index += 1
        self._hidden_seen, self._hidden_gap = 0, False

    def _set_speed(self, t: float) -> None:
        while self._speed_index + 1 < len(self.speeds) and self.speeds[self._speed_index + 1][0] <= t:
            self._speed_index += 1
        self.speed = self.speeds[self._speed_index][1]

    def _produce(self, t: float, dt: float, upstream_running: bool, gap: bool) -> None:
        """Run the cycle for dt seconds; a part finishing inside the step gets its exact time."""
        slow = 1.0 if upstream_running else 1.0 + self.spec.upstream_slowdown
        left = dt
        while left > 0:
            rate = 1.0 / (self.cycle_s(t) * self.cycle_jitter * slow)
            to_finish = (1.0 - self.progress) / rate
            if to_finish > left:
                self.progress += left * rate
                return
            left -= to_finish
            self.progress = 0.0
            self._part(t, gap)
            self.parts_done.append((t + dt - left, self.total, self.reject))
            self.cycle_jitter = math.exp(self.jitter_rng.gauss(0.0, self.spec.jitter))

    def step(self, t: float, dt: float, in_break: bool, gap: bool, upstream_running: bool = True) -> str:
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
        self.parts_done = []
        self._set_speed(t)
        if not self._in_hidden_stop(t, state == "running", gap) and state == "running":
            self._produce(t, dt, upstream_running, gap)
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

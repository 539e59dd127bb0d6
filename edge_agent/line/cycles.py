"""Cycles of a work unit: the time between two consecutive parts while it ran, with the model's features."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

from edge_agent.line.kpi import UNKNOWN

RUNNING = "running"
MAX_SPEEDS = 1000  # setpoint changes kept per unit (a day of them, many times over)
CYCLE_COLUMNS = ("end_ms", "seconds", "product", "speed", "upstream_down", "verdict", "drift")


@dataclass(frozen=True)
class Cycle:
    """One completed cycle between two parts [start_ms, end_ms): its running time (a visible stop in between is
    not cycle time), product and speed setpoint (the same all through), and the upstream unit's down share."""

    unit: str
    start_ms: int
    end_ms: int
    product: str | None
    speed: float | None
    upstream_down: float = 0.0  # share of the running time the upstream unit was known to be not running
    upstream_known: bool = True  # False when the upstream unit's state was unknown for part of it (an outage)
    speed_known: bool = True  # False when the unit has a speed tag but no setpoint was seen yet (after a restart)
    run_ms: int | None = None  # running time; None: not resolved yet (then the whole interval)

    @property
    def features_known(self) -> bool:
        """Whether every feature the model takes was known (else the cycle is no evidence of the unit's pace)."""
        return self.upstream_known and self.speed_known

    @property
    def seconds(self) -> float:
        """The cycle time: running time between the two parts."""
        return (self.end_ms - self.start_ms if self.run_ms is None else self.run_ms) / 1000.0

    def row(self, verdict: str, drift: bool) -> list[Any]:
        """The upload row (CYCLE_COLUMNS) for retraining; drift: judged while the unit's drift alarm was on."""
        seconds = round(self.seconds, 3)
        down = round(self.upstream_down, 4) if self.upstream_known else None  # null: the feeder's state was unknown
        return [self.end_ms, seconds, self.product, self.speed, down, verdict, int(drift)]


@dataclass
class CycleClock:
    """Per unit: when the previous part came, and the speed setpoints over time."""

    last_part_ms: int = 0
    speeds: list[tuple[int, float]] = field(default_factory=list)  # (since ms, setpoint), changes only

    def set_speed(self, ts_ms: int, value: float) -> None:
        """A speed setpoint sample (samples come in time order per tag)."""
        if not self.speeds or self.speeds[-1][1] != value:
            self.speeds.append((ts_ms, value))
            del self.speeds[:-MAX_SPEEDS]

    def to_json(self) -> list[list[float]]:
        """The setpoints for the line state file (a PLC may report its speed only when it changes)."""
        return [[ts, value] for ts, value in self.speeds]

    def restore(self, document: list[list[float]]) -> None:
        """Resume the setpoints from to_json(); the part clock starts again (the agent was down)."""
        self.speeds = [(int(ts), float(value)) for ts, value in document][-MAX_SPEEDS:]

    def speed_over(self, start_ms: int, end_ms: int) -> tuple[bool, float | None]:
        """(steady, setpoint): whether the setpoint stayed the same over the interval, and its value."""
        index = bisect.bisect_right(self.speeds, start_ms, key=lambda s: s[0]) - 1
        value = self.speeds[index][1] if index >= 0 else None
        steady = index + 1 >= len(self.speeds) or self.speeds[index + 1][0] >= end_ms
        return steady, value

    def part(self, unit: str, ts_ms: int, parts: int) -> Cycle | None:
        """Parts counted at ts_ms: a candidate cycle when exactly one part followed the previous one; whether the
        unit ran all through it is judged later against its timeline (tags of one unit may arrive out of order)."""
        previous = self.last_part_ms
        # a reading of several parts (after an outage, a restart, a sampled counter) says when the last of them was
        # counted, not when it was made: the clock starts again at the next single part
        self.last_part_ms = ts_ms if parts == 1 else 0
        if parts != 1 or previous <= 0 or ts_ms <= previous:
            return None
        return Cycle(unit, previous, ts_ms, None, None)


def _pieces(segments: list[Any], open_segment: Any | None, start_ms: int, end_ms: int) -> list[tuple[int, int, str]]:
    """(from, to, state) of the timeline clipped to [start_ms, end_ms), in time order."""
    found = list(segments[bisect.bisect_right(segments, start_ms, key=lambda s: s.end_ms) :])
    if open_segment is not None:
        found.append(open_segment)
    out = []
    for segment in found:
        if segment.start_ms >= end_ms:
            break
        a, b = max(start_ms, segment.start_ms), min(end_ms, segment.end_ms)
        if b > a:
            out.append((a, b, segment.state))
    return out


def running_spans(
    segments: list[Any], open_segment: Any | None, start_ms: int, end_ms: int
) -> list[tuple[int, int]] | None:
    """The stretches of [start_ms, end_ms) the unit ran; None when any of it is unknown (no data, no segment)."""
    pieces = _pieces(segments, open_segment, start_ms, end_ms)
    if sum(b - a for a, b, _ in pieces) < end_ms - start_ms or any(state == UNKNOWN for _, _, state in pieces):
        return None
    return [(a, b) for a, b, state in pieces if state == RUNNING]


def down_ms(segments: list[Any], open_segment: Any | None, spans: list[tuple[int, int]]) -> tuple[int, bool]:
    """Milliseconds of the spans in which the unit was known to be in a state other than running, and whether its
    state was known all through them."""
    down = known = 0
    for a, b in spans:
        for x, y, state in _pieces(segments, open_segment, a, b):
            known += (y - x) * (state != UNKNOWN)
            down += (y - x) * (state not in (RUNNING, UNKNOWN))
    return down, known == sum(b - a for a, b in spans)


def product_at(segments: list[Any], open_segment: Any | None, ts_ms: int) -> str | None:
    """The product of the segment holding ts_ms."""
    if open_segment is not None and open_segment.start_ms <= ts_ms:
        return open_segment.product
    index = bisect.bisect_right(segments, ts_ms, key=lambda s: s.end_ms)
    return segments[index].product if index < len(segments) else None

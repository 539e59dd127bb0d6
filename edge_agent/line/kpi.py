"""ISO 22400-2 line KPIs as pure functions over a state timeline and part counts (no I/O, no clock)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

STOP_STATES = frozenset({"idle", "blocked", "starved"})
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Segment:
    """A stretch of time [start_ms, end_ms) in one state while one product was made."""

    start_ms: int
    end_ms: int
    state: str
    product: str | None = None


@dataclass(frozen=True)
class PartCount:
    """Parts counted at one instant; known is False when they were made during unknown time."""

    ts_ms: int
    good: int
    reject: int
    product: str | None = None
    known: bool = True


@dataclass
class Kpis:
    """Times in seconds, factors as fractions 0-1 (None when undefined), losses per the six big losses."""

    window_s: float = 0.0
    unknown_s: float = 0.0
    planned_downtime_s: float = 0.0
    planned_s: float = 0.0
    running_s: float = 0.0
    breakdowns_s: float = 0.0
    setup_s: float = 0.0
    other_stops_s: float = 0.0
    small_stops_s: float = 0.0
    reduced_speed_s: float = 0.0
    defects_s: float = 0.0
    startup_rejects_s: float = 0.0
    fully_productive_s: float = 0.0
    good: int = 0
    reject: int = 0
    startup_reject: int = 0
    parts_in_unknown: int = 0
    faults: int = 0
    small_stops: int = 0
    ideal_s: float = 0.0
    availability: float | None = None
    performance: float | None = None
    quality: float | None = None
    oee: float | None = None
    throughput_per_h: float | None = None
    mtbf_s: float | None = None
    mttr_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def operating_s(self) -> float:
        """Running time plus small stops (the time the unit was meant to be and was producing)."""
        return self.running_s + self.small_stops_s

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: seconds rounded to ms, losses in minutes too."""
        out = {k: _rounded(k, v) for k, v in asdict(self).items() if k != "extra"}
        out["losses_min"] = {name: round(getattr(self, f"{name}_s") / 60, 3) for name in LOSSES}
        return {**out, **self.extra}


LOSSES = ("breakdowns", "setup", "other_stops", "small_stops", "reduced_speed", "defects", "startup_rejects")
SUMMED = tuple(f.name for f in fields(Kpis) if f.type in ("float", "int"))


def _rounded(name: str, value: Any) -> Any:
    """Seconds to the millisecond, ratios to 1e-6."""
    if not isinstance(value, float):
        return value
    return round(value, 3 if name.endswith("_s") or name == "throughput_per_h" else 6)


def _overlap(a0: int, a1: int, b0: int, b1: int) -> int:
    return max(0, min(a1, b1) - max(a0, b0))


def _outside_breaks(start: int, end: int, breaks: Sequence[tuple[int, int]]) -> int:
    """Milliseconds of [start, end) outside the planned breaks (breaks do not overlap each other)."""
    return (end - start) - sum(_overlap(start, end, b0, b1) for b0, b1 in breaks)


def compute_kpis(
    segments: Iterable[Segment],
    parts: Iterable[PartCount],
    window: tuple[int, int],
    breaks: Sequence[tuple[int, int]],
    ideal_cycle_s: Callable[[str | None], float],
    small_stop_max_s: float,
    startup_s: float,
) -> Kpis:
    """KPIs of one unit over window [start_ms, end_ms): time not covered by a segment is unknown.

    Availability = operating / planned, performance = ideal time of all parts / operating, quality = good / all,
    OEE = their product (= ideal time of good parts / planned for a single product). Planned time excludes
    planned downtime (calendar breaks, the planned_stop state) and unknown time, so a data outage never counts
    as running or as down.
    """
    w0, w1 = window
    k = Kpis(window_s=(w1 - w0) / 1000)
    in_breaks = sum(_overlap(w0, w1, b0, b1) for b0, b1 in breaks)
    covered = 0
    changeover_ends: list[int] = []
    for seg in sorted(segments, key=lambda s: s.start_ms):
        if seg.state == "changeover":
            changeover_ends.append(seg.end_ms)
        lo, hi = max(seg.start_ms, w0), min(seg.end_ms, w1)
        if hi <= lo:
            continue
        covered += hi - lo
        planned = _outside_breaks(lo, hi, breaks) / 1000
        if seg.state == "running":
            k.running_s += planned
        elif seg.state == "fault":
            k.breakdowns_s += planned
            k.faults += seg.start_ms >= w0 and planned > 0
        elif seg.state == "changeover":
            k.setup_s += planned
        elif seg.state in STOP_STATES:
            # a stop is small by its whole length, also when the window cuts it
            if (seg.end_ms - seg.start_ms) / 1000 < small_stop_max_s:
                k.small_stops_s += planned
                k.small_stops += seg.start_ms >= w0 and planned > 0
            else:
                k.other_stops_s += planned
        elif seg.state == "planned_stop":
            k.planned_downtime_s += planned
        else:
            k.unknown_s += planned
    # time in no segment and outside breaks is unknown; time inside breaks is planned downtime whatever the data
    uncovered_outside = (w1 - w0) - covered - in_breaks + _covered_in_breaks(segments, w0, w1, breaks)
    k.unknown_s += max(0, uncovered_outside) / 1000
    k.planned_downtime_s += in_breaks / 1000
    k.planned_s = k.running_s + k.breakdowns_s + k.setup_s + k.other_stops_s + k.small_stops_s
    _count_parts(k, parts, w0, w1, ideal_cycle_s, changeover_ends, startup_s)
    return finish(k)


def _covered_in_breaks(segments: Iterable[Segment], w0: int, w1: int, breaks: Sequence[tuple[int, int]]) -> int:
    total = 0
    for seg in segments:
        lo, hi = max(seg.start_ms, w0), min(seg.end_ms, w1)
        if hi > lo:
            total += sum(_overlap(lo, hi, b0, b1) for b0, b1 in breaks)
    return total


def _count_parts(
    k: Kpis,
    parts: Iterable[PartCount],
    w0: int,
    w1: int,
    ideal_cycle_s: Callable[[str | None], float],
    changeover_ends: list[int],
    startup_s: float,
) -> None:
    startup_ms = startup_s * 1000
    for part in parts:
        if not w0 <= part.ts_ms < w1:
            continue
        if not part.known:
            k.parts_in_unknown += part.good + part.reject
            continue
        ideal = ideal_cycle_s(part.product)
        k.good += part.good
        k.reject += part.reject
        k.ideal_s += ideal * (part.good + part.reject)
        k.fully_productive_s += ideal * part.good
        startup = any(0 <= part.ts_ms - end <= startup_ms for end in changeover_ends)
        if startup:
            k.startup_reject += part.reject
            k.startup_rejects_s += ideal * part.reject
        else:
            k.defects_s += ideal * part.reject


def finish(k: Kpis) -> Kpis:
    """Fill in the ratios and the reduced-speed loss from the summed times and counts."""
    operating = k.operating_s
    total = k.good + k.reject
    k.reduced_speed_s = k.running_s - k.ideal_s
    k.availability = operating / k.planned_s if k.planned_s > 0 else None
    k.performance = k.ideal_s / operating if operating > 0 else None
    k.quality = k.good / total if total > 0 else None
    factors = (k.availability, k.performance, k.quality)
    # ISO 22400-2: OEE = A x E x QR (counts); the same as fully_productive / planned when one product is made
    k.oee = factors[0] * factors[1] * factors[2] if None not in factors else None  # type: ignore[operator]
    k.throughput_per_h = total / (k.planned_s / 3600) if k.planned_s > 0 else None
    k.mtbf_s = operating / k.faults if k.faults else None
    k.mttr_s = k.breakdowns_s / k.faults if k.faults else None
    return k


def aggregate(units: Sequence[Kpis]) -> Kpis:
    """The line: times, counts and ideal times summed over its units, ratios recomputed from the sums."""
    line = Kpis()
    for unit in units:
        for name in SUMMED:
            setattr(line, name, getattr(line, name) + getattr(unit, name))
    return finish(line)

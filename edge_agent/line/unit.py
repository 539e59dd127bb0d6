"""One work unit's live timeline: state segments, part counts and counter bookkeeping, built from tag values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edge_agent.config_line import UnitConfig
from edge_agent.line.kpi import UNKNOWN, PartCount, Segment

BUCKET_MS = 10_000  # parts are kept per 10 s: shift and break bounds fall on whole minutes, so none straddles one
GOOD_VALUES = frozenset({"ok", "good", "true", "1", "pass"})


def counter_delta(last: int, value: int, rollover: int) -> tuple[int, str | None]:
    """Parts between two counter readings, and 'rollover' or 'reset' when the counter went backwards.

    A fall from the top tenth of the counter's range into the bottom tenth is a wrap past the modulus;
    any other fall is a reset to zero, after which the new value is what was counted since.
    """
    if value >= last:
        return value - last, None
    if last >= 0.9 * rollover and value < 0.1 * rollover:
        return value + rollover - last, "rollover"
    return value, "reset"


@dataclass
class UnitTimeline:
    """Segments and parts of one unit; the open segment runs from open_start to last_ms."""

    config: UnitConfig
    segments: list[Segment] = field(default_factory=list)
    parts: list[PartCount] = field(default_factory=list)
    state: str | None = None  # None: no current knowledge (start-up, source down, stale)
    product: str | None = None
    open_start: int = 0
    last_ms: int = 0
    known_since: int = 0  # parts counted after this instant were made while the state was known
    counters: dict[str, int] = field(default_factory=dict)
    count_ms: dict[str, int] = field(default_factory=dict)  # when each counter was last read

    def set_state(self, ts_ms: int, state: str) -> None:
        """A state sample (already mapped; 'unknown' for an unmapped PLC value)."""
        if self.state is None:
            if self.last_ms > 0 and ts_ms <= self.last_ms:
                # a value from before the loss (an OPC UA initial value after a reconnect, a retained message):
                # it does not say what happened since, so the unit stays unknown until a newer sample
                return
            self.state, self.open_start, self.last_ms, self.known_since = state, ts_ms, ts_ms, ts_ms
            return
        if state != self.state:
            self._close(ts_ms)
            if self.state == UNKNOWN:  # parts counted across the unknown stretch stay unknown
                self.known_since = ts_ms
            self.state, self.open_start = state, ts_ms
        self.last_ms = max(self.last_ms, ts_ms)

    def set_product(self, ts_ms: int, product: str) -> None:
        """The product changed: the open segment is split so each part of time has its product."""
        if product == self.product:
            return
        if self.state is not None and ts_ms > self.open_start:
            self._close(ts_ms)
            self.open_start = ts_ms
            self.last_ms = max(self.last_ms, ts_ms)
        self.product = product

    def _close(self, end_ms: int) -> None:
        if self.state is not None and end_ms > self.open_start:
            self.segments.append(Segment(self.open_start, end_ms, self.state, self.product))

    def lose(self, until_ms: int | None = None) -> None:
        """The source went away: the state is known up to until_ms (default the last sample), then unknown."""
        if self.state is None:
            return
        self._close(max(self.last_ms, until_ms or 0))
        self.state = None

    def add_parts(self, ts_ms: int, good: int, reject: int, since_ms: int | None = None) -> None:
        """Parts counted at ts_ms (made since since_ms); known only if the state was known all that time."""
        if good == 0 and reject == 0:
            return
        known = self.state not in (None, UNKNOWN) and self.known_since <= (ts_ms if since_ms is None else since_ms)
        last = self.parts[-1] if self.parts else None
        if last and (last.product, last.known, last.ts_ms // BUCKET_MS) == (self.product, known, ts_ms // BUCKET_MS):
            # one record per 10 s bucket: a shift of 1 Hz counters stays small to keep, save and sum
            self.parts[-1] = PartCount(last.ts_ms, last.good + good, last.reject + reject, last.product, known)
            return
        self.parts.append(PartCount(ts_ms, good, reject, self.product, known))

    def counter(self, tag: str, ts_ms: int, value: int) -> tuple[int, str | None, int]:
        """Feed one counter reading: the delta, 'reset'/'rollover' or None, and when the previous reading was."""
        rollover = self.config.counters.rollover if self.config.counters else 2**32
        last = self.counters.get(tag)
        previous_ms = self.count_ms.get(tag, ts_ms)
        self.counters[tag] = value
        self.count_ms[tag] = ts_ms
        if last is None:
            return 0, None, ts_ms
        delta, kind = counter_delta(last, value, rollover)
        return delta, kind, previous_ms

    def part_event(self, ts_ms: int, value: Any) -> None:
        """One part per update: good when the value reads as ok/good/true/1."""
        good = str(value).strip().lower() in GOOD_VALUES
        self.add_parts(ts_ms, int(good), int(not good))

    def view(self, now_ms: int, stale_ms: int | None) -> list[Segment]:
        """Closed segments plus the open one up to now (or up to the heartbeat horizon when samples stop)."""
        if self.state is None:
            return list(self.segments)
        end = now_ms if stale_ms is None else min(now_ms, self.last_ms + stale_ms)
        end = max(end, self.last_ms)
        return [*self.segments, Segment(self.open_start, end, self.state, self.product)]

    def prune(self, before_ms: int) -> None:
        """Forget what ended before before_ms (kept: a day for the trend, the shift, the rolling window)."""
        self.segments = [s for s in self.segments if s.end_ms >= before_ms]
        self.parts = [p for p in self.parts if p.ts_ms >= before_ms]

    def to_json(self) -> dict[str, Any]:
        """What a restart needs to resume: segments, parts, counter readings and the open segment."""
        return {
            "segments": [[s.start_ms, s.end_ms, s.state, s.product] for s in self.segments],
            "parts": [[p.ts_ms, p.good, p.reject, p.product, p.known] for p in self.parts],
            "counters": self.counters,
            "count_ms": self.count_ms,
            "open": [self.open_start, self.last_ms, self.state, self.product] if self.state is not None else None,
            "product": self.product,
            "last_ms": self.last_ms,
        }

    def restore(self, document: dict[str, Any]) -> None:
        """Resume from to_json(); the open segment ends at its last sample (the agent was down after it)."""
        self.segments = [Segment(int(a), int(b), str(s), p) for a, b, s, p in document.get("segments", [])]
        self.parts = [PartCount(int(t), int(g), int(r), p, bool(k)) for t, g, r, p, k in document.get("parts", [])]
        self.counters = {str(k): int(v) for k, v in document.get("counters", {}).items()}
        self.count_ms = {str(k): int(v) for k, v in document.get("count_ms", {}).items()}
        self.product = document.get("product")
        opened = document.get("open")
        if opened:
            start, last, state, product = opened
            if int(last) > int(start):
                self.segments.append(Segment(int(start), int(last), str(state), product))
            self.last_ms = int(last)
        # samples at or before this (an OPC UA initial value after the restart) say nothing about the gap
        self.last_ms = max(self.last_ms, int(document.get("last_ms", 0)))
        self.state = None

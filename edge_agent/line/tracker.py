"""The line tracker: routes tag values and verdicts to unit timelines, keeps event time, flags bad input."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from edge_agent.config_line import LineConfig, UnitConfig
from edge_agent.ingest.tags import QUALITY_GOOD, TagUpdate
from edge_agent.line.cycles import Cycle, CycleClock
from edge_agent.line.kpi import UNKNOWN
from edge_agent.line.unit import UnitTimeline

log = logging.getLogger(__name__)
OPCUA_PREFIX = "opcua:"
SPARKPLUG_PREFIX = "sparkplug:"
REPORT_INTERVAL_S = 60.0
MAX_PENDING_CYCLES = 100_000  # cycles waiting for the monitor; beyond this the oldest go (a stalled main loop)
Emit = Callable[..., None]


def tag_key(ref: str) -> tuple[str, str]:
    """(asset, tag) as the ingest reports a reference: 'ASSET/TAG' (MQTT), 'sparkplug:NODE[/DEVICE]:METRIC'
    (metric names may hold slashes), 'opcua:NODEID' -> ('opcua', NODEID) as the OPC UA adapter reports them."""
    if ref.startswith(OPCUA_PREFIX):
        return "opcua", ref[len(OPCUA_PREFIX) :]
    if ref.startswith(SPARKPLUG_PREFIX):
        asset, _, metric = ref[len(SPARKPLUG_PREFIX) :].partition(":")
        return asset, metric
    asset, _, tag = ref.partition("/")
    return asset, tag


class LineTracker:
    """Thread-safe: MQTT, Sparkplug and OPC UA threads feed it; the main loop reads it."""

    def __init__(self, config: LineConfig, emit: Emit, wall: Callable[[], float] = time.time) -> None:
        self.config = config
        self.units = {u.id: UnitTimeline(u) for u in config.units}
        self.routes: dict[tuple[str, str], list[tuple[str, str]]] = {}
        self.cameras: dict[str, list[str]] = {}
        for unit in config.units:
            self._route(unit)
        self.lock = threading.RLock()
        self.problems: Counter[tuple[str, str]] = Counter()
        self._emit = emit
        self._wall = wall
        self._reported: dict[tuple[str, str], float] = {}
        self._last: dict[tuple[str, str], int] = {}  # newest sample time per unit and role
        self._max_ms = 0
        self._max_at = 0.0
        self.dirty = False
        self.clocks = {u.id: CycleClock() for u in config.units}
        self.seen_ms: dict[str, int] = {}  # newest sample time per unit, any role: what an upstream has covered
        self.collect_cycles = config.cycles is not None
        self.cycles: list[Cycle] = []  # completed cycles the cycle monitor has not taken yet
        self.cycles_dropped = 0

    @staticmethod
    def _roles(unit: UnitConfig) -> list[tuple[str, str]]:
        roles = [(unit.state_tag, "state")]
        if unit.counters is not None:
            roles += [(ref, role) for role, ref in unit.counters.model_dump().items() if role != "rollover" and ref]
        optional = (("part", unit.part_tag), ("product", unit.product_tag), ("speed", unit.speed_tag))
        return roles + [(ref, role) for role, ref in optional if ref]

    def _route(self, unit: UnitConfig) -> None:
        for ref, role in self._roles(unit):
            self.routes.setdefault(tag_key(ref), []).append((unit.id, role))
        if unit.inspection_camera:
            self.cameras.setdefault(unit.inspection_camera, []).append(unit.id)

    def refs(self) -> list[tuple[str, str]]:
        """(tag reference, role) of every routed tag, opcua: references spelled as configured."""
        out = []
        for unit in self.config.units:
            out += [(ref, role) for ref, role in self._roles(unit)]
        return out

    def now_ms(self) -> int:
        """Event time: the newest sample's time, advanced by the wall time since it came (compressed replays)."""
        with self.lock:
            if self._max_ms == 0:
                return int(self._wall() * 1000)
            return self._max_ms + int((self._wall() - self._max_at) * 1000)

    def resume_clock(self, clock_ms: int) -> None:
        """After a restart, event time goes on from where it was saved (a replayed shift is not closed early)."""
        if clock_ms > self._max_ms:
            self._max_ms, self._max_at = clock_ms, self._wall()

    def _stamp(self, unit_id: str, ts_ms: int, role: str = "part") -> int | None:
        wall = self._wall()
        if ts_ms <= 0:  # a tag without a timestamp: it happened when it came
            ts_ms = int(wall * 1000)
        if ts_ms > (wall + self.config.max_future_s) * 1000:
            self.problem(unit_id, "future_timestamp", f"{ts_ms - int(wall * 1000)} ms ahead")
            return None
        if ts_ms < self._last.get((unit_id, role), 0):
            self.problem(unit_id, "late_sample", f"{role} sample older than the previous one")
            return None
        self._last[(unit_id, role)] = ts_ms
        self.seen_ms[unit_id] = max(self.seen_ms.get(unit_id, 0), ts_ms)
        if ts_ms >= self._max_ms:
            self._max_ms, self._max_at = ts_ms, wall
        return ts_ms

    def tag(self, update: TagUpdate) -> None:
        """A tag value from MQTT, Sparkplug or OPC UA; unknown tags are ignored (they serve other uses)."""
        routes = self.routes.get((update.asset, update.tag))
        if not routes:
            return
        with self.lock:
            for unit_id, role in routes:
                self._apply(self.units[unit_id], role, update)
            self.dirty = True

    def _apply(self, unit: UnitTimeline, role: str, update: TagUpdate) -> None:
        uid = unit.config.id
        if update.quality != QUALITY_GOOD:
            if role == "state":  # a stale or bad state tag (Sparkplug death, OPC UA bad status): unknown from here
                unit.lose()
            return
        ts = self._stamp(uid, update.timestamp_ms, role)
        if ts is None:
            return
        if role == "state":
            state = unit.config.states.get(_text(update.value))
            if state is None:
                self.problem(uid, "unknown_state", f"PLC state value {update.value!r} is not mapped")
            unit.set_state(ts, state or UNKNOWN)
        elif role == "product":
            unit.set_product(ts, _text(update.value))
        elif role == "speed":
            if isinstance(update.value, (int, float)) and not isinstance(update.value, bool):
                self.clocks[uid].set_speed(ts, float(update.value))
            else:
                self.problem(uid, "bad_speed", f"speed setpoint {update.value!r} is not a number")
        elif role == "part":
            unit.part_event(ts, update.value)
            self._clock(unit, ts, 1)
        else:
            self._count(unit, role, ts, update.value)

    def _count(self, unit: UnitTimeline, role: str, ts: int, value: Any) -> None:
        uid = unit.config.id
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            self.problem(uid, "bad_counter", f"counter value {value!r} is not a count")
            return
        delta, kind, since = unit.counter(role, ts, int(value))
        if kind is not None:
            self.problem(uid, f"counter_{kind}", f"{role} counter fell to {int(value)}")
        counters = unit.config.counters
        assert counters is not None
        good = reject = 0
        if role == "good":
            good = delta
            reject = -delta if counters.total and not counters.reject else 0
        elif role == "reject":
            reject = delta
            good = -delta if counters.total and not counters.good else 0
        elif counters.good:  # total with a good counter: the difference is rejects
            reject = delta
        else:  # total alone or with rejects: all good, rejects move over when their counter says so
            good = delta
        unit.add_parts(ts, good, reject, since)
        # one clock per part: the total counter when there is one, else each good or reject increment
        if role == "total" or not counters.total:
            self._clock(unit, ts, delta)

    def _clock(self, unit: UnitTimeline, ts: int, parts: int) -> None:
        if not self.collect_cycles or parts <= 0:
            return
        uid = unit.config.id
        cycle = self.clocks[uid].part(uid, ts, parts)
        if cycle is not None:
            self.cycles.append(cycle)
            if len(self.cycles) > MAX_PENDING_CYCLES:
                del self.cycles[0]
                self.cycles_dropped += 1

    def last_sample(self, unit_id: str, role: str) -> int:
        """Time of the newest accepted sample of a unit's tag role (0 when none)."""
        return self._last.get((unit_id, role), 0)

    def take_cycles(self) -> list[Cycle]:
        """The completed cycles so far, oldest first (the cycle monitor's input)."""
        with self.lock:
            taken, self.cycles = self.cycles, []
        return taken

    def verdict(self, camera: str, verdict: str, ts_ms: int) -> None:
        """An inspection verdict of this agent, for units whose quality source is that camera."""
        for unit_id in self.cameras.get(camera, []):
            with self.lock:
                ts = self._stamp(unit_id, ts_ms)
                if ts is not None:
                    self.units[unit_id].add_parts(ts, int(verdict == "ok"), int(verdict != "ok"))
                    self._clock(self.units[unit_id], ts, 1)
                    self.dirty = True

    def connection(self, source: str, connected: bool) -> None:
        """A source ('mqtt' or 'opcua') went away: its units are unknown from their last sample on."""
        if connected:
            return
        with self.lock:
            for unit in self.units.values():
                if unit.config.state_tag.startswith(OPCUA_PREFIX) == (source == "opcua"):
                    unit.lose()
            self.dirty = True

    def expire(self) -> None:
        """Units whose heartbeat stopped: unknown from one heartbeat after their last sample."""
        now = self.now_ms()
        with self.lock:
            for unit in self.units.values():
                beat = unit.config.heartbeat_s
                if beat and unit.state is not None and now - unit.last_ms > 3 * beat * 1000:
                    unit.lose(unit.last_ms + int(beat * 1000))
                    self.problem(unit.config.id, "heartbeat_lost", f"no state for {3 * beat:g} s")

    def problem(self, unit_id: str, kind: str, detail: str) -> None:
        """Count bad input per unit and kind; report it as an event at most once a minute per kind."""
        self.problems[(unit_id, kind)] += 1
        now = self._wall()
        if now - self._reported.get((unit_id, kind), -1e9) >= REPORT_INTERVAL_S:
            self._reported[(unit_id, kind)] = now
            log.warning("line unit %s: %s (%s)", unit_id, kind, detail)
            self._emit("line_input", unit=unit_id, problem=kind, detail=detail, count=self.problems[(unit_id, kind)])


def _text(value: Any) -> str:
    """PLC values as the state map spells them: 1.0 -> '1', True -> 'true'."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)

"""The line KPI engine: per-shift and rolling KPIs from the tracker, published, stored, sent upstream."""

from __future__ import annotations

import bisect
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from edge_agent.config_line import LINE_UNIT, LineConfig
from edge_agent.errors import EdgeAgentError
from edge_agent.line.cycle_monitor import CycleMonitor
from edge_agent.line.kpi import Kpis, aggregate, compute_kpis
from edge_agent.line.persist import LineStateFile
from edge_agent.line.shifts import ShiftCalendar, ShiftWindow
from edge_agent.line.tracker import LineTracker
from edge_agent.line.unit import UnitTimeline

log = logging.getLogger(__name__)
KEEP_MS = 26 * 3600 * 1000  # a day of timeline for the trend, plus a long shift
HISTORY = 60  # closed shifts kept per unit for the trend
TREND_CACHE_S = 60.0  # a day of hourly KPIs for every unit is too much to redo at every page refresh
Publish = Callable[[str, bytes], None]
Upstream = Callable[[str, str, dict[str, Any]], None]


class LineEngine:
    """Computes KPI documents on the main loop's ticks; the tracker is fed from the network threads."""

    def __init__(
        self,
        config: LineConfig,
        ns: str,
        tracker: LineTracker,
        state_file: LineStateFile,
        publish: Publish,
        upstream: Upstream,
        wall: Callable[[], float] = time.time,
        cycles: CycleMonitor | None = None,
    ) -> None:
        self.config = config
        self.cycles = cycles
        self.ns = ns
        self.tracker = tracker
        self.calendar = ShiftCalendar(config.shifts)
        self.state_file = state_file
        self._publish = publish
        self._upstream = upstream
        self._wall = wall
        self.shift: ShiftWindow | None = None
        self.closed: ShiftWindow | None = None
        self.history: dict[str, list[dict[str, Any]]] = {}
        self.latest: dict[str, dict[str, Any]] = {}
        self._trends: dict[tuple[str, int], tuple[float, list[dict[str, Any]]]] = {}
        self._last_publish = self._last_save = self._last_upstream = -1e18

    def topic(self, unit_id: str) -> str:
        """Where a unit's (or, for _line, the line's) KPI document is published, retained."""
        return f"{self.ns}/line/{unit_id}/kpi"

    def start(self) -> None:
        """Resume the saved timeline; a corrupt file is reported and the line starts empty."""
        try:
            saved = self.state_file.load()
        except EdgeAgentError as exc:
            self.tracker.problem(LINE_UNIT, "state_corrupt", str(exc))
            return
        if not saved:
            return
        with self.tracker.lock:
            self.tracker.resume_clock(int(saved.get("clock_ms", 0)))
            for uid, kind, n in saved.get("problems", []):  # counted bad input is a shift's record too
                self.tracker.problems[(str(uid), str(kind))] += int(n)
            for unit_id, document in saved.get("units", {}).items():
                if unit_id in self.tracker.units:
                    self.tracker.units[unit_id].restore(document)
        self.history = {k: list(v) for k, v in saved.get("history", {}).items()}
        if self.cycles is not None:
            self.cycles.restore(saved.get("cycles", {}))
        shift = saved.get("shift")
        if shift:
            self.shift = ShiftWindow(shift["id"], shift["name"], shift["start_ms"], shift["end_ms"], ())
            self.shift = self.calendar.shift_at(self.shift.start_ms) or self.shift
        log.info("line state resumed: %d units, shift %s", len(saved.get("units", {})), shift and shift["id"])

    def tick(self) -> None:
        """From the main loop: heartbeats, shift close, publish, upstream and save at their intervals."""
        wall = self._wall()
        self.tracker.expire()
        now = self.tracker.now_ms()
        self._close_shift(now)
        if self.cycles is not None:
            self.cycles.tick()
        if wall - self._last_publish >= self.config.publish_interval_s:
            self._last_publish = wall
            documents = self.compute(now)
            for unit_id, document in documents.items():
                self._publish(self.topic(unit_id), json.dumps(document, separators=(",", ":")).encode())
            if self.cycles is not None:
                for unit_id, document in self.cycles.documents().items():
                    body = json.dumps({"ts_ms": now, **document}, separators=(",", ":")).encode()
                    self._publish(self.cycles.status_topic(unit_id), body)
            if wall - self._last_upstream >= self.config.upstream_interval_s:
                self._last_upstream = wall
                for unit_id, document in documents.items():
                    self._upstream(f"line/{unit_id}", "health", document)
        if self.tracker.dirty and wall - self._last_save >= self.config.save_interval_s:
            self._last_save = wall
            self.save()

    def _close_shift(self, now: int) -> None:
        current = self.calendar.shift_at(now)
        if self.shift is not None and now >= self.shift.end_ms:
            documents = self.compute(self.shift.end_ms, self.shift, final=True)
            for unit_id, document in documents.items():
                self._publish(self.topic(unit_id), json.dumps(document, separators=(",", ":")).encode())
                self._upstream(f"line/{unit_id}", "alert", document)  # a closed shift outranks running figures
                self.history.setdefault(unit_id, []).append(document)
                del self.history[unit_id][:-HISTORY]
            log.info("shift %s closed: line OEE %s", self.shift.id, documents[LINE_UNIT]["shift"]["kpi"]["oee"])
            self.closed, self.shift = self.shift, None
            self.save()
        if current is not None and (self.shift is None or current.id != self.shift.id):
            self.shift = current  # also backwards: the first samples of a replay or a backfill

    def _unit_kpis(self, unit: UnitTimeline, window: tuple[int, int], now: int) -> Kpis:
        beat = unit.config.heartbeat_s
        with self.tracker.lock:
            segments = unit.view(now, int(3 * beat * 1000) if beat else None)
            # parts are in time order: only the window's slice is summed (a day is kept, an hour is rolled)
            lo = bisect.bisect_left(unit.parts, window[0], key=lambda part: part.ts_ms)
            hi = bisect.bisect_left(unit.parts, window[1], key=lambda part: part.ts_ms)
            parts = unit.parts[lo:hi]
        breaks = self.calendar.breaks_between(*window)
        return compute_kpis(
            segments,
            parts,
            window,
            breaks,
            unit.config.ideal_cycle,
            self.config.small_stop_max_s,
            self.config.startup_s,
        )

    def compute(self, now: int, shift: ShiftWindow | None = None, final: bool = False) -> dict[str, dict[str, Any]]:
        """KPI documents per unit and for the line (_line): the shift so far (or closed) and the rolling window."""
        if shift is None and self.shift is None and self.closed is not None:
            shift, final = self.closed, True  # between shifts the last one stays on show, as closed
        shift = shift or self.shift
        rolling = (now - int(self.config.rolling_window_s * 1000), now)
        per_shift: dict[str, Kpis] = {}
        per_window: dict[str, Kpis] = {}
        for unit_id, unit in self.tracker.units.items():
            if shift is not None:
                per_shift[unit_id] = self._unit_kpis(unit, (shift.start_ms, min(now, shift.end_ms)), now)
            per_window[unit_id] = self._unit_kpis(unit, rolling, now)
        if per_shift:
            per_shift[LINE_UNIT] = aggregate(list(per_shift.values()))
        per_window[LINE_UNIT] = aggregate(list(per_window.values()))
        documents = {}
        for unit_id, window_kpis in per_window.items():
            timeline = self.tracker.units.get(unit_id)
            document: dict[str, Any] = {
                "ts_ms": now,
                "unit": unit_id,
                "state": timeline.state if timeline is not None else None,
                "product": timeline.product if timeline is not None else None,
                "shift": None,
                "rolling": {"window_s": self.config.rolling_window_s, "kpi": window_kpis.as_dict()},
                "problems": self._problems(unit_id),
            }
            if shift is not None:
                document["shift"] = {
                    "id": shift.id,
                    "name": shift.name,
                    "start_ms": shift.start_ms,
                    "end_ms": shift.end_ms,
                    "final": final,
                    "kpi": per_shift[unit_id].as_dict(),
                }
            documents[unit_id] = document
        self.latest = documents
        return documents

    def _problems(self, unit_id: str) -> dict[str, int]:
        with self.tracker.lock:
            items = list(self.tracker.problems.items())
        return {kind: n for (uid, kind), n in items if uid == unit_id or unit_id == LINE_UNIT}

    def documents(self) -> dict[str, dict[str, Any]]:
        """The latest KPI documents (status page, /metrics)."""
        return dict(self.latest)

    def cycle_documents(self) -> dict[str, dict[str, Any]]:
        """Per unit, the cycle-time model's figures (empty when the model is off)."""
        return self.cycles.documents() if self.cycles is not None else {}

    def trend(self, unit_id: str, hours: int = 24) -> list[dict[str, Any]]:
        """Hourly OEE of the last hours (from the kept timeline) for the status page, recomputed once a minute."""
        cached = self._trends.get((unit_id, hours))
        if cached is not None and self._wall() - cached[0] < TREND_CACHE_S:
            return cached[1]
        points = self._trend(unit_id, hours)
        self._trends[(unit_id, hours)] = (self._wall(), points)
        return points

    def _trend(self, unit_id: str, hours: int) -> list[dict[str, Any]]:
        now = self.tracker.now_ms()
        top = now - now % 3_600_000 + 3_600_000
        points = []
        for start in range(top - hours * 3_600_000, top, 3_600_000):
            window = (start, min(start + 3_600_000, now))
            if window[1] <= window[0]:
                break
            units = [
                self._unit_kpis(u, window, now) for uid, u in self.tracker.units.items() if unit_id in (uid, LINE_UNIT)
            ]
            kpis = aggregate(units)
            if kpis.planned_s > 0:
                points.append(
                    {
                        "start_ms": start,
                        "oee": kpis.oee,
                        "availability": kpis.availability,
                        "performance": kpis.performance,
                        "quality": kpis.quality,
                    }
                )
        return points

    def save(self, final: bool = False) -> None:
        """Persist the timeline (pruned to a day) and closed-shift history; failures are logged, never raised.
        final (at stop): the cycles buffered for cloud-sync go to the outbox too."""
        now = self.tracker.now_ms()
        if final and self.cycles is not None:
            self.cycles.flush()  # before the judges' state is taken: what it judged now is in the saved state
        with self.tracker.lock:
            for unit in self.tracker.units.values():
                unit.prune(now - KEEP_MS)
            document = {
                "units": {uid: unit.to_json() for uid, unit in self.tracker.units.items()},
                "history": self.history,
                "clock_ms": now,
                "problems": [[uid, kind, n] for (uid, kind), n in self.tracker.problems.items()],
                "cycles": self.cycles.to_json() if self.cycles is not None else {},
                "shift": None
                if self.shift is None
                else {
                    "id": self.shift.id,
                    "name": self.shift.name,
                    "start_ms": self.shift.start_ms,
                    "end_ms": self.shift.end_ms,
                },
            }
            self.tracker.dirty = False
        try:
            self.state_file.save(document)
        except EdgeAgentError as exc:
            log.error("%s", exc)

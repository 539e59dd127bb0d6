"""Runs the cycle-time model on every completed cycle: verdicts, micro-stop and drift events, uploads for retraining."""

from __future__ import annotations

import json
import logging
import math
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from edge_agent.config_line import CycleModelConfig, LineConfig
from edge_agent.line.cycle_judge import Finding, UnitJudge
from edge_agent.line.cycle_model import CycleModel
from edge_agent.line.cycles import CYCLE_COLUMNS, Cycle, down_ms, product_at, running_spans
from edge_agent.line.kpi import Segment
from edge_agent.line.tracker import LineTracker
from edge_agent.line.unit import UnitTimeline

log = logging.getLogger(__name__)
UNJUDGED = "unjudged"  # no model, or a unit the model was not trained on: uploaded all the same (first training)
RECENT = 20  # findings kept for the status page
Publish = Callable[[str, bytes], None]
Upstream = Callable[[str, str, dict[str, Any]], None]


def _open(unit: UnitTimeline, end_ms: int) -> Segment | None:
    return Segment(unit.open_start, end_ms, unit.state, unit.product) if unit.state is not None else None


class CycleMonitor:
    """Fed from the tracker's completed cycles on the main loop's ticks; the model runs in batches there."""

    def __init__(
        self,
        line: LineConfig,
        ns: str,
        tracker: LineTracker,
        model: Callable[[], CycleModel | None],
        publish_event: Publish,
        upstream: Upstream,
        wall: Callable[[], float] = time.time,
    ) -> None:
        assert line.cycles is not None
        self.config: CycleModelConfig = line.cycles
        self.ns = ns
        self.tracker = tracker
        self._model = model
        self._publish_event = publish_event
        self._upstream = upstream
        self._wall = wall
        self.upstream_of = {u.id: u.upstream for u in line.units}
        self.has_speed = {u.id: u.speed_tag is not None for u in line.units}
        self.upload_interval_s = line.upstream_interval_s
        self.judges = {u.id: UnitJudge(u.id, self.config) for u in line.units}
        self.pending: list[tuple[float, Cycle]] = []  # (wall time taken, cycle) waiting for its tags
        self.not_cycles: Counter[str] = Counter()  # candidates the unit did not run all through (a visible stop)
        self.unjudged: Counter[str] = Counter()
        self.events: Counter[tuple[str, str]] = Counter()
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT)
        self.model_ident: dict[str, str] | None = None
        self._rows: dict[str, list[list[Any]]] = {}
        self._last_upload = wall()

    def event_topic(self, unit_id: str) -> str:
        """Where a unit's micro-stop and drift events go (QoS 1, not retained)."""
        return f"{self.ns}/line/{unit_id}/anomaly"

    def status_topic(self, unit_id: str) -> str:
        """Where a unit's cycle figures go (retained, with the KPI documents)."""
        return f"{self.ns}/line/{unit_id}/cycles"

    def tick(self, final: bool = False) -> list[dict[str, Any]]:
        """Judge every cycle whose unit and upstream tags now cover it (final, at stop: every cycle, with what is
        known); returns the events published."""
        taken = self._wall()
        self.pending += [(taken, cycle) for cycle in self.tracker.take_cycles()]
        ready = self._ready(final)
        model = self._model()
        self.model_ident = model.ident if model is not None else None
        expectations = model.expect(ready) if model is not None else [None] * len(ready)
        published = []
        for cycle, expected in zip(ready, expectations):
            if expected is None:
                self.unjudged[cycle.unit] += 1
                verdict = UNJUDGED
            else:
                verdict, findings = self.judges[cycle.unit].judge(cycle, expected)
                published += [self._publish(cycle, finding) for finding in findings]
            drifting = self.judges[cycle.unit].drift_since_ms is not None
            self._rows.setdefault(cycle.unit, []).append(cycle.row(verdict, drifting))
        self._upload()
        return published

    def _ready(self, final: bool) -> list[Cycle]:
        """Cycles covered by their unit's state tag and the upstream unit's tags (or waited for long enough),
        resolved against the timelines; candidates across a stop or a product or speed change are dropped."""
        # waited for in wall time: a replay's event clock runs ahead with its fastest source
        deadline = math.inf if final else self._wall() - self.config.upstream_wait_s
        ready, waiting = [], []
        with self.tracker.lock:
            for taken, cycle in self.pending:
                upstream = self.upstream_of.get(cycle.unit)
                covered = self._covered(cycle.unit, cycle.end_ms) and (
                    upstream is None or self._covered(upstream, cycle.end_ms)
                )
                if not covered and taken > deadline:
                    waiting.append((taken, cycle))
                    continue
                resolved = self._resolve(cycle, upstream)
                if resolved is None:
                    self.not_cycles[cycle.unit] += 1
                else:
                    ready.append(resolved)
        self.pending = waiting
        return ready

    def _covered(self, unit_id: str, end_ms: int) -> bool:
        """Whether the unit's state tag has a sample at or after end_ms: its timeline is known up to there (tags
        may come in any order across tags: an OPC UA publish groups its changes by node, a replay by source)."""
        return self.tracker.last_sample(unit_id, "state") >= end_ms

    def _resolve(self, cycle: Cycle, upstream: str | None) -> Cycle | None:
        unit = self.tracker.units[cycle.unit]
        own = _open(unit, max(unit.last_ms, self.tracker.seen_ms.get(cycle.unit, 0)))
        spans = running_spans(unit.segments, own, cycle.start_ms, cycle.end_ms)
        run_ms = sum(b - a for a, b in spans or [])
        if not spans or run_ms <= 0:
            return None  # unknown time in it: the parts may not be consecutive at all
        product = product_at(unit.segments, own, cycle.end_ms - 1)
        if product != product_at(unit.segments, own, cycle.start_ms):
            return None  # a changeover in between
        steady, speed = self.tracker.clocks[cycle.unit].speed_over(cycle.start_ms, cycle.end_ms)
        if not steady:
            return None
        down, known = 0, True
        if upstream is not None:
            feeder = self.tracker.units[upstream]
            down, known = down_ms(feeder.segments, _open(feeder, 2**62), spans)
        speed_known = speed is not None or not self.has_speed[cycle.unit]
        return Cycle(
            cycle.unit, cycle.start_ms, cycle.end_ms, product, speed, down / run_ms, known, speed_known, run_ms
        )

    def _publish(self, cycle: Cycle, finding: Finding) -> dict[str, Any]:
        document = {
            "ts_ms": cycle.end_ms,
            "unit": cycle.unit,
            "type": finding.kind,
            "reason": finding.reason,
            **finding.detail,
            "model": self.model_ident,
        }
        self.events[(cycle.unit, finding.kind)] += 1
        self.recent.append(document)
        log.log(logging.WARNING if finding.kind == "drift" else logging.INFO, "%s", finding.reason)
        self._upstream(f"line/{cycle.unit}", "event", document)
        self._publish_event(self.event_topic(cycle.unit), json.dumps(document, separators=(",", ":")).encode())
        return document

    def _upload(self, force: bool = False) -> None:
        """Cycles go to cloud-sync (stream cycles/UNIT, lowest priority) in records of upload_cycles rows."""
        size = self.config.upload_cycles
        due = force or self._wall() - self._last_upload >= self.upload_interval_s
        if size == 0:
            self._rows.clear()
            return
        for unit_id, rows in self._rows.items():
            while rows and (len(rows) >= size or due):
                chunk, rows[:] = rows[:size], rows[size:]
                body = {"unit": unit_id, "columns": list(CYCLE_COLUMNS), "model": self.model_ident, "cycles": chunk}
                self._upstream(f"cycles/{unit_id}", "sample", body)
        if due:
            self._last_upload = self._wall()

    def flush(self) -> None:
        """At stop: judge what waits (a restart would lose it) and upload what is buffered."""
        self.tick(final=True)
        self._upload(force=True)

    def to_json(self) -> dict[str, Any]:
        """Judges' state and event counts for the line state file (a restart resumes them)."""
        return {
            "judges": {uid: judge.to_json() for uid, judge in self.judges.items()},
            "events": [[uid, kind, n] for (uid, kind), n in self.events.items()],
            "speeds": {uid: clock.to_json() for uid, clock in self.tracker.clocks.items() if clock.speeds},
        }

    def restore(self, document: dict[str, Any]) -> None:
        """Resume from to_json(); units no longer configured are skipped."""
        for uid, state in document.get("judges", {}).items():
            if uid in self.judges:
                self.judges[uid].restore(state)
        for uid, kind, n in document.get("events", []):
            self.events[(str(uid), str(kind))] += int(n)
        for uid, speeds in document.get("speeds", {}).items():
            if uid in self.tracker.clocks:
                self.tracker.clocks[uid].restore(speeds)

    def documents(self) -> dict[str, dict[str, Any]]:
        """Per unit: verdict counts, pace over the model, drift, events, model (retained cycles documents)."""
        out = {}
        for unit_id, judge in self.judges.items():
            out[unit_id] = {
                "unit": unit_id,
                "model": self.model_ident,
                **judge.status(),
                "unjudged": self.unjudged[unit_id],
                "not_cycles": self.not_cycles[unit_id],
                "events": {kind: n for (uid, kind), n in self.events.items() if uid == unit_id},
                "recent": [e for e in self.recent if e["unit"] == unit_id][-5:],
            }
        return out

"""Per-asset baselines in the running agent: commissioning -> learned | refused, judged windows, operator commands."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from edge_agent.baseline import (
    AssetBaseline,
    BaselineJudgement,
    BaselineLearner,
    BaselineRefused,
    BaselineSettings,
    MachineSignature,
    judge,
    kept_evidence,
    machine_signature,
)
from edge_agent.baseline.records import (
    AssetPlan,
    AssetState,
    decision_document,
    describe_decision,
    describe_state,
    progress_document,
    read_decision,
    read_progress,
    result_fields,
    settings_for,
)
from edge_agent.baseline.store import BASELINE_FILE, PROGRESS_FILE, BaselineFileError, BaselineStore
from edge_agent.errors import EdgeAgentError
from edge_agent.ingest.vibration import VibrationWindow
from edge_agent.pipelines.maintenance import HealthOutcome

log = logging.getLogger(__name__)
REQUEST_POLL_S = 1.0


class BaselineActionRejected(EdgeAgentError):
    """An operator command cannot apply now (unknown asset, baselines off, too few windows to finish)."""


class EventSink(Protocol):
    """Publishes an agent event (AgentService.event)."""

    def __call__(self, event_type: str, **detail: Any) -> None:
        """One event with its details."""


class BaselineManager:
    """Feeds every window to its asset's learner while commissioning and judges it against the baseline after.

    Thread-safe: worker threads call judge_window, the main loop calls tick, the status page calls reset/finish.
    Progress is saved from tick every save_interval_s, never per window; decisions are saved at once.
    """

    def __init__(
        self,
        store: BaselineStore,
        plans: Mapping[str, AssetPlan],
        emit: EventSink,
        upstream: Callable[[str, str, dict[str, Any]], None],
        count: Callable[[str, str], None],
        save_interval_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self._emit = emit
        self._upstream = upstream
        self._count = count
        self._save_interval_s = save_interval_s
        self._clock = clock
        self._assets = {name: AssetState(name, plan, settings_for(plan.tuning)) for name, plan in plans.items()}
        self._default = BaselineSettings()
        self._last_poll = 0.0

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def start(self) -> None:
        """Load every asset's files (resume, keep, or recommission a corrupt one), then apply waiting requests."""
        for state in self._assets.values():
            with state.lock:
                self._load(state)
        self.poll_requests()

    def _load(self, state: AssetState) -> None:
        if not state.plan.tuning.enabled:
            state.status = "off"
            return
        asset, name = state.asset, BASELINE_FILE
        try:
            decided = read_decision(self.store.read(asset, BASELINE_FILE))
            if decided is not None:
                state.status, state.baseline, state.reason, state.decided_ms, state.decided_by = decided
                self.store.remove(asset, PROGRESS_FILE)  # a kill between a decision's two writes leaves it behind
                return
            name = PROGRESS_FILE
            progress = read_progress(self.store.read(asset, PROGRESS_FILE), state.settings)
        except (BaselineFileError, ValueError, KeyError, TypeError) as exc:
            moved = self.store.move_aside(asset, name)
            log.error("baseline file of %s is corrupt, commissioning again: %s", asset, exc)
            self._emit("baseline_corrupt", asset=asset, file=name, error=str(exc)[:300], moved_to=str(moved))
            progress = None
        if progress is None:
            self._begin(state)
            return
        state.learner, state.started_ms = progress
        state.status, state.saved_at = "commissioning", self._clock()
        if state.learner is not None:  # an asset that had seen no window yet has nothing to resume
            self._emit("baseline_resumed", asset=asset, windows=state.learner.windows, of=state.plan.tuning.windows)

    def _begin(self, state: AssetState) -> None:
        """A fresh commissioning, saved at once so its start time survives a restart."""
        state.status, state.baseline, state.reason = "commissioning", None, None
        state.decided_ms = state.decided_by = None
        state.learner = None  # made by the first window, which names the model version
        state.started_ms = self._now_ms()
        self.store.remove(state.asset, BASELINE_FILE)
        self._save(state)

    def _save(self, state: AssetState) -> None:
        document = progress_document(state.asset, state.started_ms, state.learner)
        try:
            self.store.write(state.asset, PROGRESS_FILE, document)
        except OSError as exc:  # a full or read-only disk must not stop inference; the next save retries
            log.error("cannot save baseline progress of %s: %s", state.asset, exc)
            return
        state.unsaved, state.saved_at = 0, self._clock()

    def _commissioning_over(self, state: AssetState) -> bool:
        tuning, learner = state.plan.tuning, state.learner
        if learner is None:
            return False
        if learner.windows >= tuning.windows:
            return True
        hours = tuning.commissioning_hours
        elapsed_h = (self._now_ms() - state.started_ms) / 3_600_000
        return hours is not None and elapsed_h >= hours and learner.windows >= tuning.min_windows

    def _decide(self, state: AssetState, by: str) -> list[tuple[str, dict[str, Any]]]:
        """Finish commissioning: learned or refused, saved, reported upstream; returns the events to emit."""
        assert state.learner is not None
        windows, model = state.learner.windows, state.learner.model
        now = self._now_ms()
        try:
            state.baseline = state.learner.finish(now)
            state.status, state.reason = "learned", None
        except BaselineRefused as exc:
            state.baseline, state.status, state.reason = None, "refused", exc.reason
        state.learner, state.decided_ms, state.decided_by = None, now, by
        document = decision_document(state.asset, model, state.status, state.reason, state.baseline, now, by)
        document["windows"] = windows
        try:
            self.store.write(state.asset, BASELINE_FILE, document)
            self.store.remove(state.asset, PROGRESS_FILE)
        except OSError as exc:
            log.error("cannot save the baseline of %s: %s", state.asset, exc)
        self._upstream(f"baseline/{state.asset}", "event", document)
        detail: dict[str, Any] = {"asset": state.asset, "windows": windows, "by": by}
        if state.status == "refused":
            log.warning("baseline of %s refused: %s", state.asset, state.reason)
            return [("baseline_refused", {**detail, "reason": state.reason})]
        log.info("baseline of %s learned from %d windows", state.asset, windows)
        return [("baseline_learned", {**detail, **describe_decision(state.baseline)})]

    def judge_window(self, asset: str, model: str, window: VibrationWindow, outcome: HealthOutcome) -> dict[str, Any]:
        """Result fields for one window (severity, baseline, judged state); learns from it while commissioning."""
        try:
            signature = machine_signature(window.samples, window.fs_hz, window.rpm)
        except (EdgeAgentError, ValueError) as exc:  # severity needs a usable spectrum; the absolute result stands
            return {"baseline": {"status": "none", "reasons": [f"no signature: {exc}"]}}
        state = self._assets.get(asset)
        events: list[tuple[str, dict[str, Any]]] = []
        if state is None:
            fields, _ = self._judged(asset, outcome, signature, None, self._default, {"status": "none"})
        else:
            with state.lock:
                fields, events = self._judge_locked(state, model, outcome, signature)
        for event_type, detail in events:
            self._emit(event_type, **detail)
        return fields

    def _judge_locked(
        self, state: AssetState, model: str, outcome: HealthOutcome, signature: MachineSignature
    ) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]:
        events: list[tuple[str, dict[str, Any]]] = []
        block: dict[str, Any] = {"status": "none"}
        baseline = state.baseline if state.status == "learned" else None
        if state.status == "commissioning":
            if state.learner is None:
                state.learner = BaselineLearner(state.asset, model, state.settings)
            learner = state.learner
            learner.add(signature, outcome.features, outcome.result)
            state.unsaved += 1
            # the window that completes commissioning is reported as its last one, not judged by its own baseline
            block = {"status": "commissioning", "progress": [learner.windows, state.plan.tuning.windows]}
            if self._commissioning_over(state):
                events = self._decide(state, "windows" if learner.windows >= state.plan.tuning.windows else "time")
        elif state.status == "refused":
            block = {"status": "refused", "reason": state.reason}
        if state.evidence_of is not baseline:  # a new, reset or refused baseline: earlier evidence is void
            state.recent_lines, state.evidence_of = [], baseline
        fields, judgement = self._judged(
            state.asset, outcome, signature, baseline, state.settings, block, state.recent_lines
        )
        state.recent_lines = kept_evidence(state.recent_lines, judgement, state.settings)
        state.last_status = fields["baseline"]["status"]
        return fields, events

    def _judged(
        self,
        asset: str,
        outcome: HealthOutcome,
        signature: MachineSignature,
        baseline: AssetBaseline | None,
        settings: BaselineSettings,
        block: dict[str, Any],
        recent: Sequence[Mapping[str, float]] = (),
    ) -> tuple[dict[str, Any], BaselineJudgement]:
        judgement = judge(outcome.result, outcome.features, signature, baseline, settings, recent)
        fields = result_fields(outcome.result, judgement, signature)
        if baseline is not None:
            block = {"status": judgement.status}
        fields["baseline"] = {**block, **fields["baseline"], "status": block["status"]}
        if fields["state"] != outcome.result.state:
            self._count("baseline_changed", asset)
        if fields["state"] == "uncertain":
            self._count("uncertain", asset)
        return fields, judgement

    def tick(self) -> None:
        """Main-loop work: operator requests, time-limited commissioning, progress saves."""
        now = self._clock()
        if now - self._last_poll >= REQUEST_POLL_S:
            self._last_poll = now
            self.poll_requests()
        for state in self._assets.values():
            events: list[tuple[str, dict[str, Any]]] = []
            with state.lock:
                if state.status != "commissioning":
                    continue
                if state.learner is not None and state.learner.windows and self._commissioning_over(state):
                    events = self._decide(state, "time")
                elif state.unsaved and now - state.saved_at >= self._save_interval_s:
                    self._save(state)
            for event_type, detail in events:
                self._emit(event_type, **detail)

    def flush(self) -> None:
        """Save every commissioning progress now (at stop)."""
        for state in self._assets.values():
            with state.lock:
                if state.status == "commissioning" and state.unsaved:
                    self._save(state)

    def poll_requests(self) -> None:
        """Apply commands the CLI left on disk."""
        for request in self.store.pending():
            try:
                message = self.apply(request.asset, request.action, request.by)
                log.info("baseline request %s %s by %s: %s", request.action, request.asset, request.by, message)
            except BaselineActionRejected as exc:
                log.warning("baseline request %s %s refused: %s", request.action, request.asset, exc)
                self._emit("baseline_request_refused", asset=request.asset, action=request.action, reason=str(exc))
            self.store.done(request)

    def apply(self, asset: str, action: str, by: str) -> str:
        """reset or finish an asset's baseline; returns what happened (raises BaselineActionRejected)."""
        if action == "reset":
            return self.reset(asset, by)
        if action == "finish":
            return self.finish(asset, by)
        raise BaselineActionRejected(f"unknown baseline action {action!r}")

    def _known(self, asset: str) -> AssetState:
        state = self._assets.get(asset)
        if state is None:
            raise BaselineActionRejected(f"unknown asset {asset!r}")
        if not state.plan.tuning.enabled:
            raise BaselineActionRejected(f"baselines are off for {asset}")
        return state

    def reset(self, asset: str, by: str) -> str:
        """Forget the baseline (or the progress) and commission the asset again."""
        state = self._known(asset)
        with state.lock:
            was = state.status
            self._begin(state)
        self._emit("baseline_reset", asset=asset, by=by, was=was)
        return f"commissioning again (was {was})"

    def finish(self, asset: str, by: str) -> str:
        """End commissioning now if at least min_windows were learned."""
        state = self._known(asset)
        with state.lock:
            if state.status != "commissioning":
                raise BaselineActionRejected(f"{asset} is not commissioning (it is {state.status})")
            have, need = state.windows, state.plan.tuning.min_windows
            if have < need:
                raise BaselineActionRejected(f"{asset} has {have} windows; finishing needs at least {need}")
            events = self._decide(state, by)
            status, reason = state.status, state.reason
        for event_type, detail in events:
            self._emit(event_type, **detail)
        return status if reason is None else f"{status}: {reason}"

    def describe(self) -> list[dict[str, Any]]:
        """Every asset's baseline as JSON-ready dicts, by asset (status page, /metrics, CLI)."""
        rows = []
        for name in sorted(self._assets):
            state = self._assets[name]
            with state.lock:
                row = describe_state(state)
            rows.append(row)
        return rows

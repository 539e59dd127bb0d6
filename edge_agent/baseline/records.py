"""Baseline records: an asset's plan and live state, and the JSON documents (progress, decisions, result fields)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edge_agent.baseline import (
    AssetBaseline,
    BaselineJudgement,
    BaselineLearner,
    BaselineSettings,
    MachineSignature,
    iso_zone,
)
from edge_agent.baseline.store import BASELINE_FILE, PROGRESS_FILE, BaselineFileError, BaselineStore
from edge_agent.config import BaselineTuning
from edge_agent.pipelines.postprocess import HealthAssessment

FORMAT = 1
SHOWN_LEVELS = ("order_1x_g", "order_2x_g", "order_3x_g", "order_1x_mm_s", "velocity_rms_mm_s", "band_rms_g")


@dataclass(frozen=True)
class AssetPlan:
    """What the config says about one asset's baseline: its model and the baseline keys in force."""

    model: str
    tuning: BaselineTuning


@dataclass
class AssetState:
    """The live baseline state of one asset; every field is guarded by lock."""

    asset: str
    plan: AssetPlan
    settings: BaselineSettings
    status: str = "commissioning"  # commissioning | learned | refused | off
    learner: BaselineLearner | None = None
    baseline: AssetBaseline | None = None
    reason: str | None = None
    started_ms: int = 0
    decided_ms: int | None = None
    decided_by: str | None = None
    unsaved: int = 0
    saved_at: float = 0.0
    last_status: str | None = None
    # Envelope evidence of the last windows judged against `evidence_of` (pooled with the next window's).
    recent_lines: list[Mapping[str, float]] = field(default_factory=list)
    evidence_of: AssetBaseline | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def windows(self) -> int:
        """Commissioning windows learned so far."""
        return self.learner.windows if self.learner is not None else 0


def settings_for(tuning: BaselineTuning) -> BaselineSettings:
    """The core's settings from the config keys it knows (the rest keep the core's defaults)."""
    return BaselineSettings.model_validate(tuning.model_dump(include=set(BaselineSettings.model_fields)))


def progress_document(asset: str, started_ms: int, learner: BaselineLearner | None) -> dict[str, Any]:
    """commissioning.json: when commissioning began and the learner's state (None before the first window)."""
    return {
        "format": FORMAT,
        "asset": asset,
        "started_ms": started_ms,
        "saved_ms": int(time.time() * 1000),
        "learner": learner.to_dict() if learner is not None else None,
    }


def read_progress(
    document: dict[str, Any] | None, settings: BaselineSettings
) -> tuple[BaselineLearner | None, int] | None:
    """The learner and start time a commissioning.json holds (ValueError when it holds something else)."""
    if document is None:
        return None
    saved = document.get("learner")
    if document.get("format") != FORMAT or not (saved is None or isinstance(saved, dict)):
        raise ValueError("not a commissioning file of this agent")
    try:
        learner = BaselineLearner.from_dict(saved, settings) if saved is not None else None
    except Exception as exc:  # the core may raise any type on a damaged document; a bad file must not stop the agent
        raise ValueError(f"learner state unusable ({type(exc).__name__}: {exc})") from exc
    return learner, int(document["started_ms"])


def describe_decision(baseline: AssetBaseline | None) -> dict[str, Any]:
    """The figures of a learned baseline a person looks at: orders, velocity and its ISO zone, speed range."""
    if baseline is None:
        return {}
    levels = {name: round(baseline.level(name), 6) for name in SHOWN_LEVELS if name in baseline.levels}
    velocity = levels.get("velocity_rms_mm_s")
    return {
        "learned_windows": baseline.windows,
        "rpm_range": [round(baseline.rpm_min, 1), round(baseline.rpm_max, 1)],
        "levels": levels,
        "iso_zone": iso_zone(velocity) if velocity is not None else None,
    }


def decision_document(
    asset: str,
    model: str | None,
    status: str,
    reason: str | None,
    baseline: AssetBaseline | None,
    decided_ms: int,
    by: str,
) -> dict[str, Any]:
    """baseline.json, and the outbox record of it (stream baseline/{asset}); `state` and `model` feed cloud-sync's
    ledger columns."""
    return {
        "format": FORMAT,
        "asset": asset,
        "state": status,
        "reason": reason,
        "model": _model_ref(model),
        "decided_ms": decided_ms,
        "ts_ms": decided_ms,
        "by": by,
        "summary": describe_decision(baseline),
        "baseline": baseline.model_dump(mode="json") if baseline is not None else None,
    }


def _model_ref(ident: str | None) -> dict[str, str] | None:
    if not ident:
        return None
    name, _, version = ident.partition("@")
    return {"name": name, "version": version} if version else {"name": name}


Decision = tuple[str, AssetBaseline | None, str | None, int | None, str | None]


def read_decision(document: dict[str, Any] | None) -> Decision | None:
    """(status, baseline, reason, decided_ms, by) of a baseline.json (ValueError when it holds something else)."""
    if document is None:
        return None
    status = document.get("state")
    if document.get("format") != FORMAT or status not in ("learned", "refused"):
        raise ValueError("not a baseline file of this agent")
    baseline = AssetBaseline.model_validate(document["baseline"]) if status == "learned" else None
    reason = document.get("reason")
    by = document.get("by")
    return status, baseline, str(reason) if reason else None, int(document["decided_ms"]), str(by) if by else None


def result_fields(
    assessment: HealthAssessment, judgement: BaselineJudgement, signature: MachineSignature
) -> dict[str, Any]:
    """What a judged window adds to (or changes in) the health result document."""
    velocity = float(signature.velocity_rms_mm_s)
    fields: dict[str, Any] = {
        "state": judgement.state,
        "anomaly": bool(judgement.anomaly),
        "severity": {"velocity_rms_mm_s": round(velocity, 3), "iso_zone": iso_zone(velocity)},
        "baseline": {
            "deviation": None if judgement.deviation is None else round(float(judgement.deviation), 3),
            "changes_db": {k: round(float(v), 2) for k, v in judgement.changes_db.items()},
            "reasons": list(judgement.reasons),
        },
    }
    if judgement.state != assessment.state:
        fields["absolute_state"] = assessment.state
    if judgement.state == "uncertain":
        top2 = [name for name in assessment.top2 if name]
        if len(top2) < 2:  # an assessment made without top-two: the two likeliest states by score
            top2 = [name for name, _ in sorted(assessment.scores.items(), key=lambda item: -item[1])[:2]]
        fields["top2"] = top2
    return fields


def status_on_disk(store: BaselineStore, asset: str, tuning: BaselineTuning) -> dict[str, Any]:
    """An asset's baseline as its files say (the CLI, with or without a running agent); never raises on bad files."""
    row: dict[str, Any] = {"asset": asset, "status": "off" if not tuning.enabled else "commissioning"}
    if not tuning.enabled:
        return row
    try:
        decided = read_decision(store.read(asset, BASELINE_FILE))
        if decided is not None:
            status, baseline, reason, decided_ms, by = decided
            return {
                **row,
                "status": status,
                "reason": reason,
                "decided_ms": decided_ms,
                "decided_by": by,
                **describe_decision(baseline),
            }
        progress = read_progress(store.read(asset, PROGRESS_FILE), BaselineSettings())
    except (BaselineFileError, ValueError, KeyError, TypeError) as exc:
        return {**row, "status": "corrupt", "reason": f"{exc} (the agent commissions it again at start)"}
    if progress is None:
        return {**row, "progress": [0, tuning.windows], "reason": "not started (no window seen yet)"}
    learner, started_ms = progress
    windows = learner.windows if learner is not None else 0
    return {**row, "progress": [windows, tuning.windows], "min_windows": tuning.min_windows, "started_ms": started_ms}


def describe_state(state: AssetState) -> dict[str, Any]:
    """One asset's live baseline as a JSON-ready dict (call with state.lock held)."""
    commissioning = state.status == "commissioning"
    return {
        "asset": state.asset,
        "model": state.plan.model,
        "status": state.status,
        "progress": [state.windows, state.plan.tuning.windows] if commissioning else None,
        "min_windows": state.plan.tuning.min_windows,
        "started_ms": state.started_ms if commissioning else None,
        "decided_ms": state.decided_ms,
        "decided_by": state.decided_by,
        "reason": state.reason,
        "last_status": state.last_status,
        **describe_decision(state.baseline),
    }

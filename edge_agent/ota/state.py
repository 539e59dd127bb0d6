"""OTA state persisted as one JSON file, replaced atomically (write, fsync, rename) on every change."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge_agent.contracts import OTA_FINAL_STATES, OtaState

log = logging.getLogger(__name__)

FINAL_STATES = OTA_FINAL_STATES


class Offer(BaseModel):
    """One model version the cloud wants on this gateway, and how far the gateway got with it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Model name")
    version: str = Field(description="Offered version")
    state: OtaState = Field(default="offered", description="Where the update stands")
    reason: str = Field(default="", description="Why it was rejected or rolled back")
    rollout_id: str | int | None = Field(default=None, description="Rollout that made the offer")
    artifact_url: str = Field(description="Where the package tar is downloaded from")
    artifact_sha256: str = Field(description="sha256 of the package tar")
    artifact_size: int = Field(ge=1, description="Size of the package tar in bytes")
    shadow: dict[str, float] | None = Field(default=None, description="Shadow thresholds, if the rollout asks")
    probation_s: float = Field(default=300.0, ge=0, description="How long the new model is watched")
    previous: str | None = Field(default=None, description="Version that was active before this one")
    activated_at: float | None = Field(default=None, description="Wall time of activation")
    updated: float = Field(default_factory=time.time, description="Wall time of the last change")


class PendingReport(BaseModel):
    """A state change not yet acknowledged by the cloud."""

    model_config = ConfigDict(extra="forbid")

    body: dict[str, Any] = Field(description="The report as POSTed")


class OtaRecord(BaseModel):
    """Everything in state.json."""

    model_config = ConfigDict(extra="forbid")

    offers: dict[str, Offer] = Field(default_factory=dict, description="Latest offer per model name")
    pending_reports: list[PendingReport] = Field(default_factory=list, description="Reports to resend")
    history: list[dict[str, Any]] = Field(default_factory=list, description="Recent state changes, newest last")


class StateFile:
    """Loads and saves OtaRecord; a torn or corrupt file is moved aside, never fatal."""

    def __init__(self, path: Path, history_limit: int = 200, pending_limit: int = 1000) -> None:
        self.path = path
        self.history_limit = history_limit
        self.pending_limit = pending_limit
        self._lock = threading.Lock()
        self.record = self._load()

    def _load(self) -> OtaRecord:
        if not self.path.exists():
            return OtaRecord()
        try:
            return OtaRecord.model_validate(json.loads(self.path.read_text(encoding="utf-8")))
        except (OSError, ValueError, ValidationError) as exc:
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            log.error("OTA state %s is unreadable (%s); moved to %s", self.path, exc, aside)
            os.replace(self.path, aside)
            return OtaRecord()

    def save(self) -> None:
        """Write the record atomically."""
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_name(self.path.name + ".tmp")
            data = self.record.model_dump_json(indent=1).encode()
            with temporary.open("wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
            directory = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)

    def transition(self, offer: Offer, state: OtaState, reason: str = "", **detail: Any) -> dict[str, Any]:
        """Record a state change of an offer, queue its report, persist; returns the report body."""
        offer.state = state
        offer.reason = reason
        offer.updated = time.time()
        body: dict[str, Any] = {
            "name": offer.name,
            "version": offer.version,
            "state": state,
            "reason": reason,
            "ts_ms": int(offer.updated * 1000),
            "rollout_id": offer.rollout_id,
            "detail": detail,
        }
        with self._lock:
            self.record.offers[offer.name] = offer
            self.record.history = [*self.record.history, body][-self.history_limit :]
            pending = [*self.record.pending_reports, PendingReport(body=body)]
            self.record.pending_reports = pending[-self.pending_limit :]
        self.save()
        return body

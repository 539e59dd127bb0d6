"""Wire models of the HTTP API (cloud_sync/API.md); separate from the table models on purpose."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from edge_agent.contracts import OTA_FINAL_STATES, OtaState

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
ReportState = OtaState
FINAL_STATES = OTA_FINAL_STATES
FAILED_STATES = ("rejected", "rolled_back")


class _In(BaseModel):
    """Base of request bodies: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class PublishOut(BaseModel):
    """Answer to a package upload."""

    name: str = Field(description="Model name")
    version: str = Field(description="Model version")
    sha256: str = Field(description="sha256 of the model file")
    size: int = Field(description="Model file size in bytes")
    artifact_sha256: str = Field(description="sha256 of the signed package tar")
    artifact_size: int = Field(description="Size of the signed package tar in bytes")
    signed_by: str = Field(description="Key id of the fleet key that signed manifest.json")


class ModelOut(BaseModel):
    """One registry entry."""

    name: str = Field(description="Model name")
    version: str = Field(description="Model version")
    task: str = Field(description="quality_inspection or predictive_maintenance")
    runtime: str = Field(description="litert or onnx")
    created: str = Field(description="Creation time from the manifest")
    description: str = Field(description="One line for humans")
    sha256: str = Field(description="sha256 of the model file")
    size: int = Field(description="Model file size in bytes")
    artifact_sha256: str = Field(description="sha256 of the signed package tar")
    artifact_size: int = Field(description="Size of the signed package tar in bytes")
    published_ms: int = Field(description="When the version was published (ms since the epoch)")


class GroupIn(_In):
    """Body of POST /groups."""

    name: str = Field(pattern=NAME_PATTERN, description="Group name")


class GroupOut(BaseModel):
    """A group and how many devices it has."""

    name: str = Field(description="Group name")
    devices: int = Field(description="Number of devices in the group")


class DeviceIn(_In):
    """Body of POST /devices."""

    id: str = Field(pattern=NAME_PATTERN, description="Gateway id (the gateway.id of its config)")
    group: str = Field(pattern=NAME_PATTERN, description="Group the device belongs to (created if new)")


class DeviceCreated(BaseModel):
    """Answer to provisioning; the only time the token is shown."""

    id: str = Field(description="Gateway id")
    group: str = Field(description="Group name")
    token: str = Field(description="Bearer token of the device; store it on the gateway")


class StateOut(BaseModel):
    """One reported OTA state change."""

    name: str = Field(description="Model name")
    version: str = Field(description="Model version")
    state: str = Field(description="OTA state")
    reason: str = Field(description="Why it was rejected or rolled back")
    ts_ms: int = Field(description="When the device changed state (device clock, ms)")
    rollout_id: int | None = Field(description="Rollout the state change belongs to")


class DeviceOut(BaseModel):
    """A device, what it runs and where its updates stand."""

    id: str = Field(description="Gateway id")
    group: str = Field(description="Group name")
    models: dict[str, str] = Field(description="Committed version per model name")
    last_seen: str | None = Field(description="Last authenticated call, ISO 8601 UTC")
    states: list[StateOut] = Field(description="Latest reported state per model name")


class ShadowSpec(_In):
    """Thresholds a candidate must meet while it runs beside the active model."""

    sample_rate: float = Field(default=0.2, gt=0, le=1, description="Share of live inputs also run on the candidate")
    min_samples: int = Field(default=50, ge=1, description="Inputs compared before judging")
    min_agreement: float = Field(default=0.95, ge=0, le=1, description="Least share of equal verdicts")
    max_p99_ratio: float = Field(default=2.0, gt=0, description="Candidate p99 latency over active p99, at most")
    max_error_rate: float = Field(default=0.01, ge=0, le=1, description="Most share of failed candidate runs")
    timeout_s: float = Field(default=900.0, gt=0, description="Reject when too little traffic arrived by then")


class RolloutIn(_In):
    """Body of POST /rollouts."""

    model: str = Field(pattern=NAME_PATTERN, description="Model name")
    version: str = Field(max_length=64, description="Published version to roll out")
    group: str = Field(pattern=NAME_PATTERN, description="Target group")
    canary_percent: float = Field(default=10, ge=0, le=100, description="Size of the first wave, % of the group")
    wave_percent: float = Field(default=50, gt=0, le=100, description="Size of each further wave, % of the group")
    failure_threshold: float = Field(default=0.2, ge=0, le=1, description="Failed share that pauses the rollout")
    shadow: ShadowSpec | None = Field(default=None, description="Shadow evaluation before activation, if wanted")
    probation_s: float = Field(default=300, ge=0, le=7 * 86400, description="Watch time after activation")


class WaveOut(BaseModel):
    """Progress of one wave."""

    index: int = Field(description="0 is the canary wave")
    devices: int = Field(description="Devices in the wave")
    open: bool = Field(description="Whether the wave has been offered")
    counts: dict[str, int] = Field(description="Devices per state")


class RolloutDeviceOut(BaseModel):
    """Where one device of a rollout stands."""

    id: str = Field(description="Gateway id")
    wave: int = Field(description="Wave index")
    state: str = Field(description="pending (wave not open), offered, or the last reported state")
    reason: str = Field(description="Why it failed, if it did")
    ts_ms: int = Field(description="Device time of the last report (0 before any)")


class RolloutOut(BaseModel):
    """A rollout with its progress."""

    id: int = Field(description="Rollout id")
    model: str = Field(description="Model name")
    version: str = Field(description="Version rolled out")
    group: str = Field(description="Target group")
    state: Literal["active", "paused", "completed", "superseded"] = Field(description="Rollout state")
    reason: str = Field(description="Why it paused, completed or was superseded")
    canary_percent: float = Field(description="Canary wave size, % of the group")
    wave_percent: float = Field(description="Further wave size, % of the group")
    failure_threshold: float = Field(description="Failed share that pauses the rollout")
    shadow: dict[str, Any] | None = Field(description="Shadow thresholds carried to devices")
    probation_s: float = Field(description="Watch time after activation")
    current_wave: int = Field(description="Highest open wave")
    waves: list[WaveOut] = Field(description="Per-wave progress")
    counts: dict[str, int] = Field(description="Devices per state over all waves")
    devices: list[RolloutDeviceOut] = Field(description="Per-device state")
    created_ms: int = Field(description="Creation time (ms since the epoch)")
    updated_ms: int = Field(description="Last change (ms since the epoch)")


class DesiredModel(BaseModel):
    """One model version a device should run."""

    name: str = Field(description="Model name")
    version: str = Field(description="Version the device should run")
    artifact_url: str = Field(description="Path of the signed package tar on this server")
    artifact_sha256: str = Field(description="sha256 of the package tar")
    artifact_size: int = Field(description="Size of the package tar in bytes")
    rollout_id: int | None = Field(description="Rollout making the offer; null for the device's current version")
    shadow: dict[str, Any] | None = Field(description="Shadow thresholds, if the rollout asks for shadow mode")
    probation_s: float = Field(description="Watch time after activation")


class DesiredOut(BaseModel):
    """GET /devices/{id}/desired."""

    models: list[DesiredModel] = Field(description="One entry per model name")


class ReportIn(_In):
    """Body of POST /devices/{id}/report."""

    name: str = Field(pattern=NAME_PATTERN, description="Model name")
    version: str = Field(min_length=1, max_length=64, description="Model version")
    state: ReportState = Field(description="New OTA state")
    reason: str = Field(default="", max_length=4000, description="Why it was rejected or rolled back")
    ts_ms: int = Field(ge=0, description="When the state changed (device clock, ms)")
    rollout_id: int | None = Field(default=None, description="Rollout of the offer")
    detail: dict[str, Any] = Field(default_factory=dict, description="Free-form facts (metrics, versions)")


class RetrainJobIn(_In):
    """Body of POST /retrain-jobs."""

    model: str = Field(pattern=NAME_PATTERN, description="Model to retrain from its labelled field samples")
    quick: bool = Field(default=False, description="Small synthetic base set (demos, tests)")


class RetrainJobOut(BaseModel):
    """A retrain job and how far it got."""

    id: int = Field(description="Job id")
    model: str = Field(description="Model being retrained")
    quick: bool = Field(description="Small synthetic base set")
    state: str = Field(description="queued, running, succeeded, not_better or failed")
    attempts: int = Field(description="How often a replica claimed it (more than one: a replica died running it)")
    owner: str | None = Field(description="host:port/pid of the replica worker that holds (or held) it")
    lease_expires_ms: int | None = Field(description="When the owner's lease runs out unless renewed")
    exit_code: int | None = Field(description="Exit status of the retrain command")
    output: str = Field(description="Tail of the retrain command's output")
    created_ms: int = Field(description="When it was queued")
    started_ms: int | None = Field(description="When the latest attempt started")
    finished_ms: int | None = Field(description="When it finished")

"""Wire models of the data API (cloud_sync/API.md): outbox batches, telemetry, samples and labels."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# Streams the gateway writes: inspection/{camera}, health/{asset}, events, labels/{source}, samples/{source}.
STREAM_PATTERN = r"^[a-z][a-z0-9_-]{0,31}(/[A-Za-z0-9][A-Za-z0-9._-]{0,127})?$"
CLASS_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"
LABEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,63}$"
MAX_SEQ = 2**63 - 1

ClassName = Annotated[str, StringConstraints(pattern=CLASS_PATTERN)]
Short = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class _Strict(BaseModel):
    """Base of the batch envelope: unknown keys and loose types are errors."""

    model_config = ConfigDict(extra="forbid", strict=True)


class RecordIn(_Strict):
    """One outbox record as the gateway's uploader sends it."""

    stream: str = Field(max_length=160, pattern=STREAM_PATTERN, description="kind/source, or events")
    seq: int = Field(ge=1, le=MAX_SEQ, description="Outbox sequence number, unique per gateway outbox")
    ts_ms: int = Field(ge=0, le=MAX_SEQ, description="When the gateway wrote the record (gateway clock, ms)")
    priority: str = Field(pattern=CLASS_PATTERN, description="Outbox priority class of the record")
    body_b64: str = Field(description="The record body (a JSON document), base64")


class BatchIn(_Strict):
    """Body of POST /devices/{id}/batches."""

    records: list[RecordIn] = Field(description="Records, each seq at most once")
    drops: dict[ClassName, Annotated[int, Field(ge=0, le=MAX_SEQ)]] = Field(
        default_factory=dict, max_length=32, description="The gateway's outbox drop counters per priority class"
    )


class RejectedOut(BaseModel):
    """A record refused for good (acknowledged, not stored as data)."""

    stream: str = Field(description="Stream of the record")
    seq: int = Field(description="Its sequence number")
    reason: str = Field(description="Why it was refused")


class BatchOut(BaseModel):
    """Answer to a batch upload."""

    acked: list[int] = Field(description="Every seq of the request the cloud now holds (delete them)")
    stored: int = Field(description="Records new to the cloud")
    duplicates: int = Field(description="Records the cloud already had (replays)")
    rejected: list[RejectedOut] = Field(description="Records of this request refused for good, with the reason")


class ModelRef(BaseModel):
    """The model that produced a result or sample."""

    model_config = ConfigDict(extra="allow")

    name: Short = Field(description="Model name")
    version: Short = Field(description="Model version")


class SampleDoc(BaseModel):
    """Body of a samples/{source} record: provenance plus the input bytes."""

    model_config = ConfigDict(extra="allow")

    source: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    part_id: Annotated[str, StringConstraints(max_length=128)] | None = None
    ts_ms: int = Field(ge=0, le=MAX_SEQ)
    reason: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    model: ModelRef
    predicted: Annotated[str, StringConstraints(max_length=64)] | None = None
    scores: dict[str, float] = Field(default_factory=dict)
    label: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    content_type: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    input_sha256: str = Field(pattern=SHA256_PATTERN)
    input_bytes: int | None = Field(default=None, ge=0)
    payload_b64: str


class LabelDoc(BaseModel):
    """Body of a labels/{source} record (ground truth from a PLC or an operator at the gateway)."""

    model_config = ConfigDict(extra="allow")

    source: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    label: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    part_id: Annotated[str, StringConstraints(max_length=128)] | None = None
    ts_ms: int | None = Field(default=None, ge=0, le=MAX_SEQ)
    origin: Annotated[str, StringConstraints(min_length=1, max_length=32)] = "gateway"
    joined: bool = False
    predicted: Annotated[str, StringConstraints(max_length=64)] | None = None
    model: ModelRef | None = None


class TelemetryOut(BaseModel):
    """One stored record with its key fields."""

    device: str = Field(description="Gateway id")
    stream: str = Field(description="Outbox stream")
    seq: int = Field(description="Outbox sequence number")
    ts_ms: int = Field(description="When the gateway wrote it (gateway clock)")
    received_ms: int = Field(description="When the cloud stored it")
    kind: str = Field(description="inspection, health, event, label, sample, rejected, or the stream's first part")
    source: str | None = Field(description="Camera, asset or label source")
    part_id: str | None = Field(description="Part id, when the record names one")
    verdict: str | None = Field(description="ok or ng (inspection)")
    label: str | None = Field(description="Predicted class (inspection) or ground truth (label, sample)")
    state: str | None = Field(description="Machine state (health)")
    event_type: str | None = Field(description="Event type (event)")
    anomaly_score: float | None = Field(description="Anomaly score (health)")
    model: str | None = Field(description="Model name")
    version: str | None = Field(description="Model version")
    document: dict[str, Any] = Field(description="The record's JSON document (a sample's bytes left out)")


class CountsOut(BaseModel):
    """Result counts of one device."""

    device: str = Field(description="Gateway id")
    total: int = Field(description="Results")
    counts: dict[str, int] = Field(description="Results per verdict (inspection) or state (health)")


class SummaryGroup(BaseModel):
    """Result counts of one model version."""

    model: str = Field(description="Model name")
    version: str = Field(description="Model version")
    kind: str = Field(description="inspection or health")
    total: int = Field(description="Results")
    counts: dict[str, int] = Field(description="Results per verdict or state")
    devices: list[CountsOut] = Field(description="The same per device")


class SummaryOut(BaseModel):
    """GET /telemetry/summary."""

    model: str | None = Field(description="Model filter, if any")
    since_ms: int | None = Field(description="Time filter, if any")
    models: list[SummaryGroup] = Field(description="Per model version, by name then version")
    drops: dict[str, dict[str, int]] = Field(description="Latest outbox drop counters per device and class")


class SampleOut(BaseModel):
    """A stored hard example (metadata; the bytes are at content_url)."""

    id: int = Field(description="Sample id")
    device: str = Field(description="Gateway id")
    stream: str = Field(description="Outbox stream")
    seq: int = Field(description="Outbox sequence number")
    source: str = Field(description="Camera or asset")
    part_id: str | None = Field(description="Part id")
    ts_ms: int = Field(description="When the input was taken (gateway clock)")
    received_ms: int = Field(description="When the cloud stored it")
    reason: str = Field(description="Why it was captured: ng, fault, uncertain, label, low_margin, audit, disagreement")
    model: str = Field(description="Model name")
    version: str = Field(description="Model version")
    predicted: str | None = Field(description="What the model said")
    content_type: str = Field(description="image/jpeg, image/png or application/json")
    input_sha256: str = Field(description="sha256 of the bytes (verified)")
    size: int = Field(description="Size of the bytes")
    label: str | None = Field(description="Current label: the newest cloud label, else the gateway's")
    label_origin: str | None = Field(description="Where the current label came from (plc, operator, cloud, ...)")
    labelled_by: str | None = Field(description="Who gave it: a cloud labeller, or the gateway id")
    provenance: dict[str, Any] = Field(description="The gateway's sample document without the bytes")
    content_url: str = Field(description="Path of the bytes on this server")


class LabelOut(BaseModel):
    """One label in a sample's history."""

    label: str = Field(description="The label")
    via: str = Field(description="sample (came with it), record (a gateway label record) or cloud")
    origin: str = Field(description="plc, operator, ... at the gateway; cloud for a cloud labeller")
    by: str = Field(description="Gateway id, or the cloud labeller")
    ts_ms: int | None = Field(description="Time the label refers to (gateway clock)")
    created_ms: int = Field(description="When the cloud recorded it")


class SampleDetail(SampleOut):
    """GET /samples/{id}: the sample with its label history, oldest first."""

    labels: list[LabelOut] = Field(description="Every label given, oldest first")


class LabelIn(BaseModel):
    """Body of POST /samples/{id}/label."""

    model_config = ConfigDict(extra="forbid")

    label: str = Field(pattern=LABEL_PATTERN, description="The right class of the sample")
    by: str = Field(min_length=1, max_length=128, description="Who labels (a person or tool)")

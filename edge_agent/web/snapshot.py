"""Plain records a StatusView returns: what the page, the JSON API and /metrics show, nothing more."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Identity:
    """Which gateway and agent this is."""

    gateway: str
    agent_version: str
    started: float  # wall time (s) the agent started


@dataclass(frozen=True)
class ModelInfo:
    """One active model version."""

    name: str
    version: str
    task: str
    runtime: str
    sha256: str
    selftest_ms: float
    labels: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LatencyInfo:
    """Recent-window percentiles and lifetime count/sum of one pipeline or model version (ms)."""

    p50_ms: float
    p99_ms: float
    count: int
    sum_ms: float


@dataclass(frozen=True)
class QueueInfo:
    """One bounded work queue."""

    name: str
    depth: int
    capacity: int
    dropped: int
    policy: str


@dataclass(frozen=True)
class InspectionInfo:
    """A recent inspection result, with its thumbnail if one is still in memory."""

    id: int
    ts_ms: int
    camera: str
    part_id: str | None
    verdict: str
    label: str
    scores: dict[str, float]
    model: str
    version: str
    latency_ms: float
    thumbnail_id: int | None = None
    highlight: str | None = None  # how the defect outline was found ("local contrast"), if any
    labels: list[str] = field(default_factory=list)  # what an operator may choose from


@dataclass(frozen=True)
class HealthPoint:
    """One health assessment of an asset."""

    ts_ms: int
    state: str
    health_index: float
    anomaly_score: float


@dataclass(frozen=True)
class TagInfo:
    """The latest value of one scalar tag."""

    asset: str
    tag: str
    value: float | int | bool | str | None
    unit: str | None
    quality: int
    timestamp_ms: int


@dataclass(frozen=True)
class OutboxInfo:
    """Store-and-forward backlog."""

    records: int
    bytes: int
    budget_bytes: int
    dropped: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class BrokerInfo:
    """MQTT broker connection."""

    connected: bool
    detail: str


@dataclass(frozen=True)
class Readiness:
    """Whether the agent is serving, and if not, why."""

    ready: bool
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BaselineInfo:
    """One asset's per-asset baseline: commissioning progress, learned levels or the reason it was refused."""

    asset: str
    status: str  # commissioning | learned | refused | off
    model: str | None = None
    progress: list[int] | None = None  # [windows learned, windows wanted] while commissioning
    min_windows: int | None = None  # windows an operator needs before finishing early
    started_ms: int | None = None
    decided_ms: int | None = None
    decided_by: str | None = None
    reason: str | None = None  # why a baseline was refused
    last_status: str | None = None  # baseline status of the latest window (used, other_speed, ...)
    learned_windows: int | None = None
    rpm_range: list[float] | None = None
    levels: dict[str, float] = field(default_factory=dict)  # order_1x_g ... velocity_rms_mm_s, in their units
    iso_zone: str | None = None


def to_json(record: Any) -> Any:
    """A dataclass (or list of them) as JSON-ready dicts."""
    if isinstance(record, list):
        return [to_json(item) for item in record]
    return asdict(record)

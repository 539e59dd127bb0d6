"""Sparkplug edge node and device state: BIRTH declarations, alias resolution, stale marking, seq bookkeeping."""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field

from edge_agent.errors import InputError
from edge_agent.ingest import sparkplug_b_pb2 as pb
from edge_agent.ingest.sparkplug_codec import (
    BD_SEQ,
    SUPPORTED_DATATYPES,
    SparkplugTopic,
    datatype_name,
    metric_name,
    metric_value,
    quality_property,
)
from edge_agent.ingest.tags import QUALITY_BAD, QUALITY_GOOD, QUALITY_STALE, TagUpdate, TagValue

SOURCE = "sparkplug"


@dataclass
class MetricInfo:
    """One metric declared by a BIRTH, with the last value sent downstream."""

    name: str
    datatype: int
    internal: bool = False
    value: TagValue = None
    seen: bool = False


@dataclass
class DataResult:
    """What a BIRTH or DATA message did to a metric set: updates, unresolved names/aliases, problems."""

    updates: list[TagUpdate] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass
class MetricSet:
    """The metrics of an edge node or of one device (asset), by name and by alias."""

    asset: str
    online: bool = True
    by_name: dict[str, MetricInfo] = field(default_factory=dict)
    by_alias: dict[int, MetricInfo] = field(default_factory=dict)

    @classmethod
    def from_birth(cls, asset: str, message: pb.Payload, ts: int) -> tuple[MetricSet, DataResult]:
        """Declare the metrics of an NBIRTH/DBIRTH (names, aliases, datatypes) and take their initial values."""
        metrics, result = cls(asset), DataResult()
        for metric in message.metrics:
            name = metric_name(metric)
            if not name:
                result.problems.append("BIRTH metric without a (UTF-8) name")
                continue
            info = MetricInfo(name, metric.datatype, internal=_is_internal(name))
            metrics.by_name[info.name] = info
            if metric.HasField("alias"):
                metrics.by_alias[metric.alias] = info
            if info.datatype not in SUPPORTED_DATATYPES and not info.internal:
                # Remembered (so its DATA is no unknown alias) but never emitted.
                result.unsupported.append(f"{info.name} ({datatype_name(info.datatype)})")
            metrics._emit(info, metric, ts, result)
        return metrics, result

    def apply_data(self, message: pb.Payload, ts: int) -> DataResult:
        """Resolve NDATA/DDATA metrics by alias (or name) against the BIRTH and produce their updates."""
        result = DataResult()
        for metric in message.metrics:
            info = self.by_alias.get(metric.alias) if metric.HasField("alias") else None
            name = metric_name(metric)
            if info is None and name:
                info = self.by_name.get(name)
            if info is None:
                result.unknown.append(name or f"alias {metric.alias}")
            else:
                self._emit(info, metric, ts, result)
        return result

    def mark_stale(self, ts: int, keep: Collection[str] = ()) -> list[TagUpdate]:
        """Go offline: every metric sent before (except those in keep) is repeated with quality 500 (stale)."""
        updates = []
        if self.online:
            for info in self.by_name.values():
                if info.seen and info.name not in keep:
                    updates.append(TagUpdate(self.asset, info.name, info.value, ts, QUALITY_STALE, None, SOURCE))
        self.online = False
        return updates

    def _emit(self, info: MetricInfo, metric: pb.Payload.Metric, ts: int, result: DataResult) -> None:
        """Append the update for one metric value; historical values and unsupported datatypes are skipped."""
        if info.internal or info.datatype not in SUPPORTED_DATATYPES or metric.is_historical:
            return
        try:
            value = metric_value(metric, info.datatype)
        except InputError as exc:
            result.problems.append(f"{info.name}: {exc}")
            return
        quality = quality_property(metric)
        quality = QUALITY_GOOD if quality is None else quality
        if isinstance(value, float) and not math.isfinite(value):
            value, quality = None, QUALITY_BAD
        info.value, info.seen = value, True
        timestamp = int(metric.timestamp) if metric.HasField("timestamp") else ts
        result.updates.append(TagUpdate(self.asset, info.name, value, timestamp, quality, None, SOURCE))


@dataclass
class NodeState:
    """State of one edge node: session (bdSeq), expected seq, held out-of-order messages, devices."""

    group: str
    edge_node: str
    metrics: MetricSet
    online: bool = False
    bd_seq: int | None = None
    next_seq: int = 0
    last_seq: int | None = None
    devices: dict[str, MetricSet] = field(default_factory=dict)
    held: dict[int, tuple[SparkplugTopic, pb.Payload]] = field(default_factory=dict)
    gap_since: float | None = None
    rebirths_requested: int = 0
    last_message: float = 0.0

    def mark_stale(self, ts: int) -> list[TagUpdate]:
        """Stale updates for the node's own metrics and every device's."""
        updates = self.metrics.mark_stale(ts)
        for device in self.devices.values():
            updates += device.mark_stale(ts)
        return updates


def _is_internal(name: str) -> bool:
    """bdSeq and the Node Control/* metrics are protocol plumbing, not plant tags."""
    return name == BD_SEQ or name.startswith("Node Control/")

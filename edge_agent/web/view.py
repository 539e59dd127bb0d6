"""StatusView: everything the status page, JSON API and /metrics read; AgentView implements it over the agent."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from edge_agent import __version__
from edge_agent.errors import EdgeAgentError
from edge_agent.web.baselines import BaselineControl, baseline_infos, run_action
from edge_agent.web.snapshot import (
    BaselineInfo,
    BrokerInfo,
    HealthPoint,
    Identity,
    InspectionInfo,
    LatencyInfo,
    ModelInfo,
    OutboxInfo,
    QueueInfo,
    Readiness,
    TagInfo,
)
from edge_agent.web.thumbnails import ThumbnailBuffer

if TYPE_CHECKING:
    from edge_agent.model_manager import ModelManager
    from edge_agent.queues import DropQueue
    from edge_agent.service import AgentService
    from edge_agent.stats import AgentStats
    from edge_agent.store import ResultStore

log = logging.getLogger(__name__)
OTA_KEYS = ("name", "version", "state", "reason", "ts_ms", "rollout_id")
# OTA reasons can quote download URLs; a presigned query string is a credential, so it never reaches a page
_URL_QUERY = re.compile(r"(https?://[^\s?#]+)[?#]\S*")
_SECRET_KEY = re.compile(r"token|secret|password|key|credential|authorization|url", re.IGNORECASE)


class LabelRejected(EdgeAgentError):
    """An operator label names an unknown camera or a label the camera's model does not know."""


class StatusView(Protocol):
    """What the status page needs of the agent; every method is cheap and safe from any thread."""

    def identity(self) -> Identity:
        """Gateway id, agent version, start time."""

    def models(self) -> list[ModelInfo]:
        """Active models: name, version, task, runtime, sha256, self-test time, labels."""

    def counters(self) -> dict[tuple[str, str], int]:
        """Counters by (kind, stream), kinds as in AgentStats (received, processed, dropped, ...)."""

    def rates(self) -> dict[str, float]:
        """Per-second rates keyed "kind:stream" over the last seconds."""

    def latency(self) -> dict[str, LatencyInfo]:
        """Latency per pipeline ("inspection", "health") and per model version ("infer:NAME@VERSION")."""

    def queues(self) -> list[QueueInfo]:
        """Depth, capacity and drops of each work queue."""

    def recent_inspections(self, limit: int) -> list[InspectionInfo]:
        """Newest inspection results first."""

    def assets(self) -> list[str]:
        """Monitored assets."""

    def health_trend(self, asset: str, limit: int) -> list[HealthPoint]:
        """Newest health assessments of an asset first."""

    def tags(self) -> list[TagInfo]:
        """Latest value of every scalar tag."""

    def outbox(self) -> OutboxInfo | None:
        """Outbox backlog and drops, or None when the agent runs without one."""

    def ota_history(self) -> list[dict[str, Any]]:
        """OTA state changes, newest first, without secrets."""

    def broker(self) -> BrokerInfo:
        """Broker connection state."""

    def readiness(self) -> Readiness:
        """Ready when the broker is connected and every configured model is loaded."""

    def thumbnail(self, thumbnail_id: int) -> bytes | None:
        """JPEG bytes of a thumbnail still in memory."""

    def submit_label(self, camera: str, part_id: str, label: str, operator: str) -> None:
        """An operator confirms or corrects a verdict (raises LabelRejected when it cannot apply)."""

    def baselines(self) -> list[BaselineInfo]:
        """Per-asset baselines: commissioning progress, learned levels, refusals."""

    def baseline_action(self, asset: str, action: str, operator: str) -> str:
        """reset or finish an asset's baseline (raises BaselineRejected when it cannot apply)."""


class OutboxProbe(Protocol):
    """The outbox figures AgentView reads (edge_agent.outbox.store.Outbox has them)."""

    count: int
    bytes: int
    budget_bytes: int
    drops: dict[str, int]


def scrub_ota_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """An OTA history entry reduced to displayable fields, with URL query strings and secret-looking keys removed."""
    clean: dict[str, Any] = {key: entry.get(key) for key in OTA_KEYS if key in entry}
    if isinstance(clean.get("reason"), str):
        clean["reason"] = _URL_QUERY.sub(r"\1?…", clean["reason"])
    detail = entry.get("detail")
    if isinstance(detail, dict):
        clean["detail"] = {
            str(k): v
            for k, v in detail.items()
            if not _SECRET_KEY.search(str(k)) and (v is None or isinstance(v, (int, float, bool, str)))
        }
    return clean


class AgentView:
    """StatusView over the running agent's parts; app.py builds it and hands it to create_app."""

    def __init__(
        self,
        stats: AgentStats,
        models: ModelManager,
        store: ResultStore | None,
        service: AgentService,
        frames: DropQueue[Any],
        windows: DropQueue[Any],
        ota_history: Callable[[], list[dict[str, Any]]],
        thumbnails: ThumbnailBuffer,
        label_sink: Callable[[str, str, str, str], None],
        ready: Callable[[], bool],
        outbox: OutboxProbe | None = None,
        baselines: BaselineControl | None = None,
    ) -> None:
        self._stats = stats
        self._models = models
        self._store = store
        self._service = service
        self._queues = {"frames": frames, "windows": windows}
        self._ota_history = ota_history
        self._thumbnails = thumbnails
        self._label_sink = label_sink
        self._ready = ready
        self._outbox = outbox
        self._baselines = baselines

    def identity(self) -> Identity:
        """Gateway id, agent version, start time."""
        return Identity(self._service.topics.gateway, __version__, self._stats.started)

    def _labels(self, name: str) -> list[str]:
        pipeline = self._models.get(name)
        return list(pipeline.model.manifest.output.labels) if pipeline is not None else []

    def models(self) -> list[ModelInfo]:
        """Active models with their labels."""
        return [
            ModelInfo(
                name=str(m["name"]),
                version=str(m["version"]),
                task=str(m["task"]),
                runtime=str(m["runtime"]),
                sha256=str(m["sha256"]),
                selftest_ms=float(m["selftest_ms"]),
                labels=self._labels(str(m["name"])),
            )
            for m in self._models.describe()
        ]

    def counters(self) -> dict[tuple[str, str], int]:
        """Every AgentStats counter."""
        return self._stats.counters()

    def rates(self) -> dict[str, float]:
        """AgentStats rates."""
        return self._stats.rates()

    def latency(self) -> dict[str, LatencyInfo]:
        """AgentStats latency windows."""
        return {
            name: LatencyInfo(w["p50_ms"], w["p99_ms"], int(w["count"]), w["sum_ms"])
            for name, w in self._stats.latency().items()
        }

    def queues(self) -> list[QueueInfo]:
        """The frames and windows queues."""
        return [QueueInfo(name, len(q), q.maxsize, q.dropped, q.policy) for name, q in self._queues.items()]

    def recent_inspections(self, limit: int) -> list[InspectionInfo]:
        """Newest stored inspections, joined to in-memory thumbnails."""
        if self._store is None:
            return []
        try:
            rows = self._store.recent_inspections(limit)
        except Exception as exc:  # the page shows what it can; a store problem is logged, not raised
            log.warning("cannot read recent inspections: %s", exc)
            return []
        labels: dict[str, list[str]] = {}
        out = []
        for row in rows:
            thumb = self._thumbnails.find(row.camera, row.part_id, row.ts_ms)
            try:
                scores = {str(k): float(v) for k, v in json.loads(row.scores_json).items()}
            except (ValueError, TypeError, AttributeError):
                scores = {}
            if row.model_name not in labels:
                labels[row.model_name] = self._labels(row.model_name)
            out.append(
                InspectionInfo(
                    id=row.id or 0,
                    ts_ms=row.ts_ms,
                    camera=row.camera,
                    part_id=row.part_id,
                    verdict=row.verdict,
                    label=row.label,
                    scores=scores,
                    model=row.model_name,
                    version=row.model_version,
                    latency_ms=row.latency_ms,
                    thumbnail_id=thumb.id if thumb is not None else None,
                    highlight=thumb.highlight if thumb is not None else None,
                    labels=labels[row.model_name],
                )
            )
        return out

    def assets(self) -> list[str]:
        """Configured assets."""
        return sorted(self._service.assets)

    def health_trend(self, asset: str, limit: int) -> list[HealthPoint]:
        """Newest stored health rows of an asset."""
        if self._store is None:
            return []
        try:
            rows = self._store.recent_health(asset, limit)
        except Exception as exc:  # as above: degrade the chart, never the page
            log.warning("cannot read health of %s: %s", asset, exc)
            return []
        return [HealthPoint(r.ts_ms, r.state, r.health_index, r.anomaly_score) for r in rows]

    def tags(self) -> list[TagInfo]:
        """Latest tag values (a copy; the service keeps updating them)."""
        updates = self._service.tags.copy()
        return [
            TagInfo(u.asset, u.tag, u.value, u.unit, u.quality, u.timestamp_ms)
            for _, u in sorted(updates.items(), key=lambda item: item[0])
        ]

    def outbox(self) -> OutboxInfo | None:
        """Outbox figures, if there is an outbox."""
        box = self._outbox
        if box is None:
            return None
        return OutboxInfo(box.count, box.bytes, box.budget_bytes, dict(box.drops))

    def ota_history(self) -> list[dict[str, Any]]:
        """Scrubbed OTA history, newest first."""
        try:
            history = list(self._ota_history())
        except Exception as exc:  # the OTA state file belongs to another thread; show nothing rather than fail
            log.warning("cannot read OTA history: %s", exc)
            return []
        return [scrub_ota_entry(entry) for entry in reversed(history[-50:]) if isinstance(entry, dict)]

    def broker(self) -> BrokerInfo:
        """Broker state as the service last saw it."""
        return BrokerInfo(self._service.broker_connected, self._service.broker_detail)

    def readiness(self) -> Readiness:
        """Broker connected, every configured model loaded, start-up finished."""
        reasons = []
        if not self._service.broker_connected:
            reasons.append("broker not connected")
        wanted = set(self._service.cameras.values()) | set(self._service.assets.values())
        missing = sorted(wanted - set(self._models.names()))
        if missing:
            reasons.append(f"models not loaded: {', '.join(missing)}")
        if not self._ready():
            reasons.append("agent still starting")
        return Readiness(not reasons, reasons)

    def thumbnail(self, thumbnail_id: int) -> bytes | None:
        """A thumbnail's JPEG bytes."""
        return self._thumbnails.jpeg(thumbnail_id)

    def submit_label(self, camera: str, part_id: str, label: str, operator: str) -> None:
        """Check the camera and label against the config and model, then hand the label to the service."""
        model = self._service.cameras.get(camera)
        if model is None:
            raise LabelRejected(f"unknown camera {camera!r}")
        known = self._labels(model)
        if known and label not in known:
            raise LabelRejected(f"{label!r} is not a label of model {model!r}")
        self._label_sink(camera, part_id, label, operator)

    def baselines(self) -> list[BaselineInfo]:
        """The baseline manager's view of every asset."""
        return baseline_infos(self._baselines)

    def baseline_action(self, asset: str, action: str, operator: str) -> str:
        """An operator resets an asset's baseline or ends its commissioning early."""
        return run_action(self._baselines, asset, action, operator)

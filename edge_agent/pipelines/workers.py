"""Worker threads that drain the queues: decode, prepare, infer (micro-batched), and emit result documents."""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from edge_agent.contracts import BearingGeometry
from edge_agent.errors import EdgeAgentError, InputError
from edge_agent.ingest.images import ImageLimits, decode_image
from edge_agent.ingest.vibration import VibrationWindow, parse_vibration
from edge_agent.pipelines.inspection import QualityInspector
from edge_agent.pipelines.maintenance import HealthMonitor, HealthOutcome
from edge_agent.queues import DropQueue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkItem:
    """One accepted message waiting for a worker."""

    stream: str
    source: str
    model: str
    payload: bytes
    properties: dict[str, str] = field(default_factory=dict)
    received: float = field(default_factory=time.monotonic)
    received_ms: int = field(default_factory=lambda: int(time.time() * 1000))


@dataclass(frozen=True)
class AssetDefaults:
    """What the config says about an asset when a message does not."""

    bearing: BearingGeometry | None
    rpm: float | None


class ResultSink(Protocol):
    """Where workers hand results and problems (the agent service)."""

    def result(self, kind: str, item: WorkItem, document: dict[str, Any]) -> None:
        """A finished result document for an item."""

    def malformed(self, item: WorkItem, error: EdgeAgentError) -> None:
        """The item's payload was bad; nothing was published for it."""

    def failed(self, item: WorkItem, error: Exception) -> None:
        """The item was good but processing failed (model missing, runtime error)."""


def _model_info(pipeline: QualityInspector | HealthMonitor) -> dict[str, str]:
    manifest = pipeline.model.manifest
    return {"name": manifest.name, "version": manifest.version, "sha256": manifest.sha256}


def _latency_ms(item: WorkItem) -> float:
    return round((time.monotonic() - item.received) * 1000, 3)


def _ts_ms(item: WorkItem, claimed: object) -> int:
    if isinstance(claimed, int) and not isinstance(claimed, bool) and claimed > 0:
        return claimed
    if isinstance(claimed, str) and claimed.isdigit():
        return int(claimed)
    return item.received_ms


Observer = Callable[[str, Any, str, float], None]


def _no_observer(model: str, raw_input: Any, label: str, inference_ms: float) -> None:
    return None


class WindowJudge(Protocol):
    """Per-asset baseline judgement of one window (the baseline manager): fields laid over the health result."""

    def __call__(self, asset: str, model: str, window: VibrationWindow, outcome: HealthOutcome) -> dict[str, Any]:
        """Extra or changed result fields (severity, baseline, judged state)."""


def _no_judge(asset: str, model: str, window: VibrationWindow, outcome: HealthOutcome) -> dict[str, Any]:
    return {}


class InspectionWorker:
    """Turns camera frames into inspection results."""

    def __init__(
        self,
        get_pipeline: Callable[[str], Any],
        sink: ResultSink,
        limits: ImageLimits,
        observer: Observer = _no_observer,
    ) -> None:
        self._get = get_pipeline
        self._sink = sink
        self._limits = limits
        self._observe = observer

    def handle(self, batch: list[WorkItem]) -> None:
        """Process frames one by one (a frame model's batch is one image)."""
        for item in batch:
            pipeline = self._get(item.model)
            if not isinstance(pipeline, QualityInspector):
                self._sink.failed(item, EdgeAgentError(f"inspection model {item.model!r} is not loaded"))
                continue
            try:
                image = decode_image(item.payload, self._limits)
                prepared = pipeline.prepare(image)
            except InputError as exc:
                self._sink.malformed(item, exc)
                continue
            try:
                outcome = pipeline.infer([prepared])[0]
            except EdgeAgentError as exc:
                self._sink.failed(item, exc)
                continue
            verdict = outcome.result
            self._observe(item.model, image, verdict.verdict, outcome.latency_ms)
            self._sink.result(
                "inspection",
                item,
                {
                    "ts_ms": _ts_ms(item, item.properties.get("ts_ms")),
                    "part_id": item.properties.get("part_id"),
                    "camera": item.source,
                    "verdict": verdict.verdict,
                    "label": verdict.label,
                    "scores": verdict.scores,
                    "margin": verdict.margin,
                    "model": _model_info(pipeline),
                    "inference_ms": outcome.latency_ms,
                    "latency_ms": _latency_ms(item),
                },
            )


class MaintenanceWorker:
    """Turns vibration windows into health results; windows for the same model share one model run."""

    def __init__(
        self,
        get_pipeline: Callable[[str], Any],
        sink: ResultSink,
        assets: Mapping[str, AssetDefaults],
        observer: Observer = _no_observer,
        judge: WindowJudge = _no_judge,
    ) -> None:
        self._get = get_pipeline
        self._sink = sink
        self._assets = assets
        self._observe = observer
        self._judge = judge

    def _judged(
        self, item: WorkItem, model: dict[str, str], window: VibrationWindow, outcome: HealthOutcome
    ) -> dict[str, Any]:
        try:
            return self._judge(item.source, f"{model['name']}@{model['version']}", window, outcome)
        except Exception:  # a baseline bug must never cost the plant its absolute result
            log.exception("baseline judgement failed for %s", item.source)
            return {}

    def handle(self, batch: list[WorkItem]) -> None:
        """Parse and featurise every window, then run one batch per model."""
        groups: dict[str, list[tuple[WorkItem, VibrationWindow, np.ndarray]]] = defaultdict(list)
        for item in batch:
            pipeline = self._get(item.model)
            if not isinstance(pipeline, HealthMonitor):
                self._sink.failed(item, EdgeAgentError(f"maintenance model {item.model!r} is not loaded"))
                continue
            defaults = self._assets.get(item.source, AssetDefaults(None, None))
            try:
                window = parse_vibration(item.payload, defaults.bearing, defaults.rpm)
                groups[item.model].append((item, window, pipeline.prepare(window)))
            except InputError as exc:
                self._sink.malformed(item, exc)
        for model_name, entries in groups.items():
            pipeline = self._get(model_name)
            try:
                outcomes = pipeline.infer([features for _, _, features in entries])
            except EdgeAgentError as exc:
                for item, _, _ in entries:
                    self._sink.failed(item, exc)
                continue
            for (item, window, _), outcome in zip(entries, outcomes):
                health = outcome.result
                self._observe(item.model, window, health.state, outcome.latency_ms)
                model = _model_info(pipeline)
                document = {
                    "ts_ms": _ts_ms(item, window.ts_ms),
                    "asset": item.source,
                    "state": health.state,
                    "closest_state": health.closest_state,
                    "scores": health.scores,
                    "anomaly_score": health.anomaly_score,
                    "anomaly": health.anomaly,
                    "health_index": health.health_index,
                    "rpm": window.rpm,
                    "bearing": window.bearing.model_dump(),
                    "features": outcome.features,
                    "model": model,
                    "inference_ms": outcome.latency_ms,
                }
                document.update(self._judged(item, model, window, outcome))
                document["latency_ms"] = _latency_ms(item)  # after the judgement: it is part of the path
                self._sink.result("health", item, document)


class WorkerPool:
    """Threads that take batches from one queue and hand them to a handler; a handler bug never kills them."""

    def __init__(
        self,
        name: str,
        queue: DropQueue[WorkItem],
        handler: Callable[[list[WorkItem]], None],
        threads: int,
        max_batch: int,
    ) -> None:
        self.name = name
        self._queue = queue
        self._handler = handler
        self._max_batch = max_batch
        self._threads = [threading.Thread(target=self._loop, name=f"{name}-{i}", daemon=True) for i in range(threads)]
        self.heartbeat = time.monotonic()

    def start(self) -> None:
        """Start the worker threads."""
        for thread in self._threads:
            thread.start()

    def join(self, timeout: float) -> None:
        """Wait for the threads after the queue was closed and drained."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _loop(self) -> None:
        while True:
            batch = self._queue.get_batch(self._max_batch, timeout=0.5)
            self.heartbeat = time.monotonic()
            if not batch:
                if self._queue.closed:
                    return
                continue
            try:
                self._handler(batch)
            except Exception:
                log.exception("%s worker failed on a batch of %d", self.name, len(batch))

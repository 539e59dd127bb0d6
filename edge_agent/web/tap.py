"""ThumbnailTap: feeds inspection frames into a ThumbnailBuffer without changing the inspection worker.

InspectionWorker calls its observer with the decoded frame and then, on the same thread and for the same
item, `sink.result(...)` with the result document. The tap is both: `observe` keeps the frame in a
thread-local slot, `result` pairs it with the document (camera, part id, verdict), stores the thumbnail and
passes everything on unchanged to the real observer and sink.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from edge_agent.errors import EdgeAgentError
from edge_agent.web.thumbnails import ThumbnailBuffer

Observer = Callable[[str, Any, str, float], None]


class Sink(Protocol):
    """The worker's result sink (AgentService)."""

    def result(self, kind: str, item: Any, document: dict[str, Any]) -> None:
        """A finished result document."""

    def malformed(self, item: Any, error: EdgeAgentError) -> None:
        """A bad payload."""

    def failed(self, item: Any, error: Exception) -> None:
        """A processing failure."""


class ThumbnailTap:
    """Observer + result sink that records a thumbnail of every inspected frame on the worker's thread."""

    def __init__(
        self,
        sink: Sink,
        thumbnails: ThumbnailBuffer,
        observer: Observer | None = None,
        ok_interval_s: float = 0.5,
    ) -> None:
        self._sink = sink
        self._thumbnails = thumbnails
        self._next_observer = observer
        self._frame = threading.local()
        # every ng part gets a thumbnail; ok parts at most one per camera per interval, so a fast line
        # does not spend its CPU on pictures nobody can look at that quickly
        self._ok_interval_s = ok_interval_s
        self._last_ok: dict[str, float] = {}

    def observe(self, model: str, raw_input: Any, label: str, inference_ms: float) -> None:
        """Keep the decoded frame for the result that follows, then call the wrapped observer."""
        self._frame.image = raw_input if isinstance(raw_input, np.ndarray) else None
        if self._next_observer is not None:
            self._next_observer(model, raw_input, label, inference_ms)

    def result(self, kind: str, item: Any, document: dict[str, Any]) -> None:
        """Store the thumbnail of an inspection (never raises), then pass the result on."""
        image = getattr(self._frame, "image", None)
        self._frame.image = None
        if kind == "inspection" and image is not None and self._wanted(document):
            ts_ms = document.get("ts_ms")
            self._thumbnails.add(
                str(document.get("camera", "")),
                document.get("part_id"),
                image,
                str(document.get("verdict", "")),
                str(document.get("label", "")),
                document.get("scores"),
                ts_ms=ts_ms if isinstance(ts_ms, int) else None,
                encoded=payload if isinstance(payload := getattr(item, "payload", None), bytes) else None,
            )
        self._sink.result(kind, item, document)

    def _wanted(self, document: dict[str, Any]) -> bool:
        if document.get("verdict") != "ok":
            return True
        camera, now = str(document.get("camera", "")), time.monotonic()
        if now - self._last_ok.get(camera, -1e9) < self._ok_interval_s:
            return False
        self._last_ok[camera] = now
        return True

    def malformed(self, item: Any, error: EdgeAgentError) -> None:
        """Pass on."""
        self._frame.image = None
        self._sink.malformed(item, error)

    def failed(self, item: Any, error: Exception) -> None:
        """Pass on."""
        self._frame.image = None
        self._sink.failed(item, error)

"""A StatusView whose numbers move on every read, for the web tests and the browser test."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from edge_agent.web.baselines import BaselineRejected
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
from edge_agent.web.view import LabelRejected, scrub_ota_entry

LABELS = ["ok", "scratch", "pit", "crack", "stain"]
SECRET_SIGNATURE = "X-Amz-Signature=deadbeefcafe0123456789"
SECRET_TOKEN = "cloud-device-token-0123456789abcdef"


class FakeView:
    """Implements StatusView with made-up, changing figures; records submitted labels."""

    def __init__(self, gateway: str = "gw-test", connected: bool = True, models_loaded: bool = True) -> None:
        self._lock = threading.Lock()
        self.gateway = gateway
        self.connected = connected
        self.models_loaded = models_loaded
        self.reads = 0
        self.thumbnails = ThumbnailBuffer(50)
        self.inspections: list[InspectionInfo] = []
        self.labels: list[tuple[str, str, str, str]] = []
        self.baseline_actions: list[tuple[str, str, str]] = []
        self.baseline_rows: dict[str, BaselineInfo] = {
            "fan-1": BaselineInfo("fan-1", "commissioning", "bearing-health", [12, 200], 30),
            "pump-1": BaselineInfo(
                "pump-1",
                "learned",
                "bearing-health",
                learned_windows=200,
                rpm_range=[1770.0, 1790.0],
                levels={"order_1x_g": 0.0123, "order_2x_g": 0.0045, "order_3x_g": 0.0021, "velocity_rms_mm_s": 1.84},
                iso_zone="A",
                last_status="used",
            ),
        }
        self.health_points: dict[str, list[HealthPoint]] = {
            "pump-1": [
                HealthPoint(
                    int(time.time() * 1000) - i * 60_000, "healthy" if i % 5 else "outer_race", 0.9 - i / 100, i / 50
                )
                for i in range(30)
            ],
            "fan-1": [],
        }
        self.raw_ota: list[dict[str, Any]] = [
            {"name": "surface-inspection", "version": "1.1.0", "state": "downloading", "ts_ms": 1_700_000_000_000},
            {
                "name": "surface-inspection",
                "version": "1.1.0",
                "state": "rejected",
                "reason": f"download failed: https://cloud.example/a.tar?{SECRET_SIGNATURE} timed out",
                "ts_ms": 1_700_000_060_000,
                "detail": {"token": SECRET_TOKEN, "artifact_url": f"https://x/?{SECRET_SIGNATURE}", "tries": 3},
            },
        ]

    def _tick(self) -> int:
        with self._lock:
            self.reads += 1
            return self.reads

    def identity(self) -> Identity:
        return Identity(self.gateway, "9.9.9", time.time() - 3600)

    def models(self) -> list[ModelInfo]:
        return [
            ModelInfo("surface-inspection", "1.0.0", "quality_inspection", "litert", "ab" * 32, 41.5, LABELS),
            ModelInfo("bearing-health", "2.0.0", "predictive_maintenance", "onnx", "cd" * 32, 12.0, ["healthy"]),
        ]

    def counters(self) -> dict[tuple[str, str], int]:
        n = self._tick()
        return {
            ("received", "cam/cam-1"): 100 + 7 * n,
            ("processed", "cam/cam-1"): 98 + 7 * n,
            ("dropped", "cam/cam-1"): 2,
            ("malformed", "cam/cam-1"): 1,
            ("received", "vibration/pump-1"): 50 + n,
            ("processed", "vibration/pump-1"): 50 + n,
            ("model_ok", "surface-inspection"): 98 + 7 * n,
            ("model_failed", "surface-inspection"): 3,
            ("captured", "cam-1"): 4,
        }

    def rates(self) -> dict[str, float]:
        n = self.reads
        return {"received:cam/cam-1": 10.0 + n % 3, "processed:cam/cam-1": 9.5, "received:vibration/pump-1": 2.0}

    def latency(self) -> dict[str, LatencyInfo]:
        return {
            "inspection": LatencyInfo(15.0, 40.0, 300, 5200.0),
            "health": LatencyInfo(8.0, 20.0, 120, 1100.0),
            "infer:surface-inspection@1.0.0": LatencyInfo(12.0, 30.0, 300, 4000.0),
        }

    def queues(self) -> list[QueueInfo]:
        return [
            QueueInfo("frames", self.reads % 8, 32, 2, "drop_oldest"),
            QueueInfo("windows", 0, 256, 0, "block_then_drop"),
        ]

    def add_inspection(
        self, camera: str, part_id: str | None, verdict: str, label: str, image: np.ndarray | None = None
    ) -> InspectionInfo:
        """A new result, with a thumbnail when an image is given."""
        thumb_id = highlight = None
        ts_ms = int(time.time() * 1000)
        if image is not None:
            thumb_id = self.thumbnails.add(camera, part_id, image, verdict, label, {label: 0.9}, ts_ms=ts_ms)
            thumb = self.thumbnails.get(thumb_id) if thumb_id is not None else None
            highlight = thumb.highlight if thumb is not None else None
        with self._lock:
            info = InspectionInfo(
                id=len(self.inspections) + 1,
                ts_ms=ts_ms,
                camera=camera,
                part_id=part_id,
                verdict=verdict,
                label=label,
                scores={label: 0.9},
                model="surface-inspection",
                version="1.0.0",
                latency_ms=12.5,
                thumbnail_id=thumb_id,
                highlight=highlight,
                labels=LABELS,
            )
            self.inspections.insert(0, info)
        return info

    def recent_inspections(self, limit: int) -> list[InspectionInfo]:
        with self._lock:
            return self.inspections[:limit]

    def assets(self) -> list[str]:
        return sorted(self.health_points)

    def health_trend(self, asset: str, limit: int) -> list[HealthPoint]:
        return self.health_points.get(asset, [])[:limit]

    def tags(self) -> list[TagInfo]:
        return [TagInfo("pump-1", "temperature", 41.5 + self.reads % 4, "degC", 192, int(time.time() * 1000))]

    def outbox(self) -> OutboxInfo | None:
        return OutboxInfo(12, 34_000, 512 * 1024 * 1024, {"sample": 3})

    def ota_history(self) -> list[dict[str, Any]]:
        return [scrub_ota_entry(entry) for entry in reversed(self.raw_ota)]

    def broker(self) -> BrokerInfo:
        return BrokerInfo(self.connected, "connected" if self.connected else "connection refused")

    def readiness(self) -> Readiness:
        reasons = []
        if not self.connected:
            reasons.append("broker not connected")
        if not self.models_loaded:
            reasons.append("models not loaded: surface-inspection")
        return Readiness(not reasons, reasons)

    def thumbnail(self, thumbnail_id: int) -> bytes | None:
        return self.thumbnails.jpeg(thumbnail_id)

    def submit_label(self, camera: str, part_id: str, label: str, operator: str) -> None:
        if camera not in ("cam-1", "cam-2"):
            raise LabelRejected(f"unknown camera {camera!r}")
        if label not in LABELS:
            raise LabelRejected(f"{label!r} is not a label of model 'surface-inspection'")
        with self._lock:
            self.labels.append((camera, part_id, label, operator))

    def baselines(self) -> list[BaselineInfo]:
        with self._lock:
            return [self.baseline_rows[name] for name in sorted(self.baseline_rows)]

    def baseline_action(self, asset: str, action: str, operator: str) -> str:
        with self._lock:
            row = self.baseline_rows.get(asset)
            if row is None:
                raise BaselineRejected(f"unknown asset {asset!r}")
            if action == "finish" and (row.progress is None or row.progress[0] < (row.min_windows or 0)):
                raise BaselineRejected(f"{asset} has too few windows to finish")
            self.baseline_actions.append((asset, action, operator))
            self.baseline_rows[asset] = BaselineInfo(asset, "commissioning", row.model, [0, 200], 30)
        return f"commissioning again (was {row.status})" if action == "reset" else "learned"

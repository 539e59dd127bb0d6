"""Hard-example capture: which inputs go to the cloud for labelling and retraining, within hourly caps."""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from edge_agent.config_capture import CaptureKnobs, CapturePolicy


@dataclass
class RecentInput:
    """A recent input kept in memory so a late label can still join it."""

    source: str
    part_id: str | None
    ts_ms: int
    model: dict[str, str]
    predicted: str
    scores: dict[str, float]
    payload: bytes
    content_type: str
    context: dict[str, Any] = field(default_factory=dict)
    captured: bool = False


@dataclass
class _Budget:
    window_start: float = field(default_factory=time.monotonic)
    count: int = 0
    bytes: int = 0


def _predicted(result: dict[str, Any]) -> str:
    return str(result.get("label") if "verdict" in result else result.get("state"))


def _is_problem(result: dict[str, Any]) -> bool:
    if "verdict" in result:
        return bool(result["verdict"] == "ng")
    return bool(result.get("anomaly")) or result.get("state") not in ("healthy", "uncertain", None)


def _reason(policy: CaptureKnobs, result: dict[str, Any], predicted: str, draw: float) -> str | None:
    """Why this result's input is worth labelling under the model's policy, or None."""
    if policy.ng and _is_problem(result):
        return "ng" if "verdict" in result else "fault"
    if policy.uncertain and (result.get("state") == "uncertain" or result.get("label") == "uncertain"):
        return "uncertain"
    if predicted in policy.labels:
        return "label"
    if policy.low_margin is not None and float(result.get("margin", 1.0)) < policy.low_margin:
        return "low_margin"
    if draw < policy.audit_rate:
        return "audit"
    return None


class HardExampleCapture:
    """Decides captures, enforces caps, remembers recent inputs and joins labels to them."""

    def __init__(
        self,
        policy: CapturePolicy,
        recent_per_source: int = 256,
        join_window_ms: int = 2000,
        seed: int | None = None,
    ) -> None:
        self.policy = policy
        self._policies: dict[str, CaptureKnobs] = {}
        self.join_window_ms = join_window_ms
        self._recent: dict[str, deque[RecentInput]] = {}
        self._recent_per_source = recent_per_source
        # bounded by bytes as well as by count: 256 vibration windows of 8 assets held 140 MB of payloads
        self._recent_bytes_cap = policy.recent_bytes_per_source
        self._recent_bytes: dict[str, int] = {}
        self._budgets: dict[str, _Budget] = {}
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.capped = 0

    def policy_for(self, model: str) -> CaptureKnobs:
        """The rules in force for one model package (the default with its overrides laid over)."""
        policy = self._policies.get(model)
        if policy is None:
            policy = self._policies[model] = self.policy.for_model(model)
        return policy

    def _allow(self, model: str, size: int) -> bool:
        policy = self.policy_for(model)
        budget = self._budgets.setdefault(model, _Budget())
        if time.monotonic() - budget.window_start >= 3600:
            budget.window_start, budget.count, budget.bytes = time.monotonic(), 0, 0
        if budget.count >= policy.max_per_hour or budget.bytes + size > policy.max_bytes_per_hour:
            self.capped += 1
            return False
        budget.count += 1
        budget.bytes += size
        return True

    def consider(
        self, source: str, payload: bytes, content_type: str, result: dict[str, Any]
    ) -> tuple[str, dict[str, Any]] | None:
        """Remember the input; return (reason, sample document) when it should be captured."""
        entry = RecentInput(
            source=source,
            part_id=result.get("part_id"),
            ts_ms=int(result["ts_ms"]),
            model=dict(result["model"]),
            predicted=_predicted(result),
            scores=dict(result.get("scores", {})),
            payload=payload,
            content_type=content_type,
            # what retraining needs beside the raw bytes: the gateway's features and the machine context
            context={k: result[k] for k in ("features", "rpm", "bearing") if k in result},
        )
        reason = _reason(self.policy_for(entry.model["name"]), result, entry.predicted, self._random.random())
        with self._lock:
            self._remember(entry)
            if reason is None or not self._allow(entry.model["name"], len(payload)):
                return None
            entry.captured = True
        return reason, sample_document(entry, reason)

    def _remember(self, entry: RecentInput) -> None:
        """Keep an input for label joins, dropping the source's oldest past the count or byte limit (lock held)."""
        recent = self._recent.setdefault(entry.source, deque())
        held = self._recent_bytes.get(entry.source, 0) + len(entry.payload)
        recent.append(entry)
        while recent and (len(recent) > self._recent_per_source or held > self._recent_bytes_cap):
            held -= len(recent.popleft().payload)
        self._recent_bytes[entry.source] = held

    def recent_bytes(self) -> int:
        """Payload bytes held for label joins, all sources together."""
        with self._lock:
            return sum(self._recent_bytes.values())

    def join_label(self, source: str, label: str, part_id: str | None, ts_ms: int | None) -> RecentInput | None:
        """The recent input a label refers to (by part id, else the nearest timestamp within the window)."""
        with self._lock:
            candidates = list(self._recent.get(source, ()))
        if part_id is not None:
            return next((e for e in reversed(candidates) if e.part_id == part_id), None)
        if ts_ms is None or not candidates:
            return None
        nearest = min(candidates, key=lambda e: abs(e.ts_ms - ts_ms))
        return nearest if abs(nearest.ts_ms - ts_ms) <= self.join_window_ms else None

    def capture_disagreement(self, entry: RecentInput, label: str) -> dict[str, Any] | None:
        """A sample for an input whose label disagrees with the model, if not captured already and within caps."""
        if not self.policy_for(entry.model["name"]).disagreement or entry.captured or entry.predicted == label:
            return None
        with self._lock:
            if not self._allow(entry.model["name"], len(entry.payload)):
                return None
            entry.captured = True
        return sample_document(entry, "disagreement", label)


def sample_document(entry: RecentInput, reason: str, label: str | None = None) -> dict[str, Any]:
    """The sample record's body (without the payload bytes, which travel beside it)."""
    return {
        "source": entry.source,
        "part_id": entry.part_id,
        "ts_ms": entry.ts_ms,
        "reason": reason,
        "model": entry.model,
        "predicted": entry.predicted,
        "scores": entry.scores,
        "label": label,
        "content_type": entry.content_type,
        "input_sha256": hashlib.sha256(entry.payload).hexdigest(),
        "input_bytes": len(entry.payload),
        **entry.context,
    }

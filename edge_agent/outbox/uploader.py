"""Uploads outbox batches to cloud-sync; deletes a record only after the cloud acknowledged it."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from edge_agent.ota.http import CloudError, CloudUnavailable, Transport
from edge_agent.outbox.store import Outbox

log = logging.getLogger(__name__)


class InferenceLoad(IntEnum):
    """How busy the line's inference is, as the uploader sees it before each batch."""

    IDLE = 0  # no inputs since the last batch: drain at full speed
    ACTIVE = 1  # inputs flowing, none waiting: spare CPU, so the upload share grows batch by batch
    BACKLOGGED = 2  # inputs waiting for a worker: the CPU is the line's bottleneck, back to the floor


@dataclass(frozen=True)
class UploaderSettings:
    """Where and how fast the outbox drains."""

    base_url: str
    device_id: str
    token: str
    max_records: int = 1000
    max_bytes: int = 4 * 1024 * 1024
    idle_s: float = 1.0
    backoff_max_s: float = 60.0
    # while inputs wait for inference, the uploader may spend at most this share of wall time on batches:
    # the line's results come first, a backlog drains in the gaps (1.0 = never pace)
    busy_share: float = 0.05
    # while inference is active without a queue, the share grows by this much per batch (up to 1)
    share_step: float = 0.05
    # smaller batches while paced: short bursts interleave with inference instead of stalling it
    busy_records: int = 200


class Uploader:
    """One thread: read a batch, POST it, delete what was acknowledged, back off while the cloud is away."""

    def __init__(
        self,
        outbox: Outbox,
        transport: Transport,
        settings: UploaderSettings,
        load: Callable[[], InferenceLoad] = lambda: InferenceLoad.IDLE,
    ) -> None:
        if not 0 < settings.busy_share <= 1:
            raise ValueError(f"busy_share must be in (0, 1], got {settings.busy_share}")
        self.outbox = outbox
        self.transport = transport
        self.settings = settings
        self.load = load
        self.share = 1.0  # of wall time the uploader may take now (additive increase, reset on a backlog)
        self._last_load = InferenceLoad.IDLE
        self.uploaded = 0
        self.paced_s = 0.0  # time spent yielding to inference
        self.refused = 0
        self.failures = 0
        self._batch_limit = settings.max_records
        self.last_error = ""
        self.connected = False
        self._stop = threading.Event()

    def upload_once(self, max_records: int | None = None) -> int:
        """Send one batch; returns how many records the cloud acknowledged (0 when there was nothing)."""
        limit = self._batch_limit if max_records is None else min(self._batch_limit, max_records)
        records = self.outbox.batch(limit, self.settings.max_bytes)
        if not records:
            return 0
        body = json.dumps(
            {
                "records": [
                    {
                        "stream": r.stream,
                        "seq": r.seq,
                        "ts_ms": r.ts_ms,
                        "priority": r.priority,
                        "body_b64": base64.b64encode(r.body).decode(),
                    }
                    for r in records
                ],
                "drops": dict(self.outbox.drops),
            }
        ).encode()
        url = f"{self.settings.base_url.rstrip('/')}/api/v1/devices/{self.settings.device_id}/batches"
        headers = {"Authorization": f"Bearer {self.settings.token}", "Content-Type": "application/json"}
        response = self.transport.request("POST", url, headers, body)
        if response.status >= 500:
            raise CloudUnavailable(f"batch upload: HTTP {response.status}")
        if response.status in (400, 413):
            return self._refused(records, response.status, response.read_all(2048))
        if response.status != 200:
            raise CloudError(f"batch upload refused: HTTP {response.status} {response.read_all(2048)!r}")
        self._batch_limit = self.settings.max_records
        sent = {r.seq for r in records}
        acked = [int(s) for s in response.json().get("acked", []) if int(s) in sent]
        removed = self.outbox.acknowledge(acked)
        self.uploaded += removed
        return removed

    def _refused(self, records: list[Any], status: int, detail: bytes) -> int:
        """A refused batch is split until the one record the cloud cannot take is found, and then dropped,
        so one bad record never blocks the outbox behind it."""
        if len(records) > 1:
            self._batch_limit = max(1, len(records) // 2)
            log.warning("cloud refused a batch of %d (HTTP %d); retrying in smaller batches", len(records), status)
            return 0
        self.refused += 1
        log.error(
            "cloud refused record %s/%d for good (HTTP %d: %r); dropped",
            records[0].stream,
            records[0].seq,
            status,
            detail[:300],
        )
        return self.outbox.acknowledge([records[0].seq])

    def run(self) -> None:
        """Drain until stop(); an outage only delays records, it never loses them."""
        backoff = 1.0
        while not self._stop.is_set():
            try:
                self.share = self._next_share(self.load())
                started = time.monotonic()
                removed = self.upload_once(self.settings.busy_records if self.share < 1 else None)
                self.connected = True
                backoff = 1.0
                if removed == 0:
                    self._stop.wait(self.settings.idle_s)
                elif self.share < 1:
                    self._yield_to_inference(time.monotonic() - started)
            except CloudError as exc:
                self.connected = False
                self.failures += 1
                self.last_error = str(exc)
                log.info("outbox upload paused for %.0f s: %s", backoff, exc)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.settings.backoff_max_s)
            except Exception:
                log.exception("outbox uploader failed; retrying")
                self._stop.wait(5.0)

    def _next_share(self, load: InferenceLoad) -> float:
        """Additive increase while inference has spare CPU, straight back to the floor when inputs wait;
        a line that starts up again starts at the floor too."""
        previous, self._last_load = self._last_load, load
        if load == InferenceLoad.IDLE or self.settings.busy_share >= 1:
            return 1.0
        if load == InferenceLoad.BACKLOGGED or previous == InferenceLoad.IDLE:
            return self.settings.busy_share
        return min(1.0, self.share + self.settings.share_step)

    def _yield_to_inference(self, spent_s: float) -> None:
        """After a batch that took ``spent_s``, pause so that batches take ``share`` of the time. Wall time,
        not CPU time: it also covers the cloud's side when the cloud shares the machine, and a slow link
        then slows the drain rather than the line."""
        pause = spent_s * (1 - self.share) / self.share
        self.paced_s += pause
        self._stop.wait(pause)

    def stop(self) -> None:
        """Ask run() to return."""
        self._stop.set()


def drain_rate(outbox: Outbox, uploader: Uploader, timeout: float) -> float:
    """Records per second while emptying the outbox (for benchmarks)."""
    started = time.perf_counter()
    total = 0
    while outbox.count and time.perf_counter() - started < timeout:
        total += uploader.upload_once()
    return total / max(time.perf_counter() - started, 1e-9)

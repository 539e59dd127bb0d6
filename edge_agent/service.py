"""The agent service: routes plant MQTT messages to queues, publishes results, events and status."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from edge_agent import __version__
from edge_agent.errors import EdgeAgentError
from edge_agent.ingest.images import ImageLimits, check_header
from edge_agent.ingest.tags import TagUpdate, parse_tag
from edge_agent.mqtt import InboundMessage
from edge_agent.outbox.capture import HardExampleCapture
from edge_agent.outbox.store import Outbox
from edge_agent.pipelines.workers import WorkItem
from edge_agent.queues import DropQueue
from edge_agent.stats import AgentStats
from edge_agent.store import EventRecord, ResultStore
from edge_agent.topics import Topics

log = logging.getLogger(__name__)
REPORT_INTERVAL_S = 60.0


class Publisher(Protocol):
    """The one method the service needs of an MQTT client."""

    def publish(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> bool:
        """Queue a message for the broker."""


class TagSource(Protocol):
    """A protocol decoder that yields tag updates (Sparkplug B)."""

    def handle(self, topic: str, payload: bytes) -> Any:
        """Decode one message."""

    def poll(self) -> Any:
        """Periodic work (reorder timeouts)."""

    def subscriptions(self) -> list[str]:
        """Topic filters to subscribe to."""


class LineInput(Protocol):
    """The line KPI tracker's inputs: tag values, this agent's verdicts and broker connection changes."""

    def tag(self, update: TagUpdate) -> None:
        """A tag value from MQTT or Sparkplug."""

    def verdict(self, camera: str, verdict: str, ts_ms: int) -> None:
        """An inspection verdict."""

    def connection(self, source: str, connected: bool) -> None:
        """The broker connection changed."""


class _RateLimitedReporter:
    """Counts problems per stream and reports each stream at most once per interval."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._last: dict[str, float] = {}
        self._pending: dict[str, int] = {}
        self._lock = threading.Lock()

    def note(self, stream: str) -> int | None:
        """Count one problem; returns how many to report now, or None while rate-limited."""
        now = time.monotonic()
        with self._lock:
            self._pending[stream] = self._pending.get(stream, 0) + 1
            if now - self._last.get(stream, -1e9) < self.interval_s:
                return None
            self._last[stream] = now
            return self._pending.pop(stream)


class AgentService:
    """Everything between the MQTT client and the worker pools."""

    def __init__(
        self,
        topics: Topics,
        cameras: Mapping[str, str],
        assets: Mapping[str, str],
        frames: DropQueue[WorkItem],
        windows: DropQueue[WorkItem],
        stats: AgentStats,
        store: ResultStore | None,
        max_payload_bytes: int = 16 * 1024 * 1024,
        tag_source: TagSource | None = None,
        outbox: Outbox | None = None,
        capture: HardExampleCapture | None = None,
        frame_limits: ImageLimits | None = None,
        line: LineInput | None = None,
    ) -> None:
        self.topics = topics
        self.cameras = dict(cameras)
        self.assets = dict(assets)
        self.frames = frames
        self.windows = windows
        self.stats = stats
        self.store = store
        self.max_payload_bytes = max_payload_bytes
        self.tag_source = tag_source
        self.outbox = outbox
        self.capture = capture
        self.frame_limits = frame_limits
        self.line = line
        self.tags: dict[tuple[str, str], TagUpdate] = {}
        self.publisher: Publisher | None = None
        self.broker_connected = False
        self.broker_detail = "not connected yet"
        self._reporter = _RateLimitedReporter(REPORT_INTERVAL_S)
        self._prefix = topics.ns + "/"
        self.models_info: list[dict[str, Any]] = []

    def attach(self, publisher: Publisher) -> None:
        """Give the service the client it publishes with."""
        self.publisher = publisher

    def subscriptions(self) -> list[str]:
        """Every topic filter the agent needs."""
        subs = self.topics.subscriptions()
        if self.tag_source is not None:
            subs += self.tag_source.subscriptions()
        return subs

    # Called from paho's network thread: cheap routing only, never raises.
    def on_message(self, message: InboundMessage) -> None:
        """Route one inbound message to a queue or a decoder."""
        topic = message.topic
        if topic.startswith(self._prefix):
            parts = topic[len(self._prefix) :].split("/")
            if len(parts) == 3 and parts[0] == "cam" and parts[2] == "frame":
                self._enqueue(self.frames, "cam", parts[1], self.cameras, message)
            elif len(parts) == 3 and parts[0] == "sensor" and parts[2] == "vibration":
                self._enqueue(self.windows, "vibration", parts[1], self.assets, message)
            elif len(parts) == 3 and parts[0] == "sensor":
                self._tag(parts[1], parts[2], message)
            elif len(parts) == 2 and parts[0] == "label":
                self._label_message(parts[1], message)
            return
        if self.tag_source is not None and topic.startswith("spBv1.0/"):
            self.stats.count("received", "sparkplug")
            try:
                self._apply_tag_output(self.tag_source.handle(topic, message.payload))
            except EdgeAgentError as exc:
                self._problem("malformed", "sparkplug", topic, exc)

    def _enqueue(
        self, queue: DropQueue[WorkItem], kind: str, source: str, known: Mapping[str, str], message: InboundMessage
    ) -> None:
        stream = f"{kind}/{source}"
        self.stats.count("received", stream)
        if source not in known:
            self._problem("malformed", stream, message.topic, EdgeAgentError(f"unknown {kind} source {source!r}"))
            return
        if len(message.payload) > self.max_payload_bytes:
            size_error = EdgeAgentError(f"payload of {len(message.payload)} bytes exceeds {self.max_payload_bytes}")
            self._problem("malformed", stream, message.topic, size_error)
            return
        if kind == "cam" and self.frame_limits is not None:
            try:  # a header read (no pixels): a flood of garbage must not evict real frames from the queue
                check_header(message.payload, self.frame_limits)
            except EdgeAgentError as exc:
                self._problem("malformed", stream, message.topic, exc)
                return
        item = WorkItem(stream, source, known[source], message.payload, message.user_properties)
        dropped = queue.put(item)
        if dropped is not None:
            self.stats.count("dropped", dropped.stream)
            count = self._reporter.note(f"drop:{dropped.stream}")
            if count:
                self.event("queue_drop", stream=dropped.stream, count=count, policy=queue.policy)

    def _label_message(self, source: str, message: InboundMessage) -> None:
        stream = f"label/{source}"
        self.stats.count("received", stream)
        try:
            document = json.loads(message.payload)
            if not isinstance(document, dict) or not isinstance(document.get("label"), str):
                raise EdgeAgentError("label message needs a JSON object with a string 'label'")
            part_id = document.get("part_id")
            ts_ms = document.get("ts_ms")
            if part_id is None and not isinstance(ts_ms, int):
                raise EdgeAgentError("label message needs 'part_id' or an integer 'ts_ms'")
        except (ValueError, EdgeAgentError) as exc:
            self._problem("malformed", stream, message.topic, EdgeAgentError(str(exc)))
            return
        self.label(source, document["label"], str(part_id) if part_id is not None else None, ts_ms, "plc")
        self.stats.count("processed", stream)

    def label(self, source: str, label: str, part_id: str | None, ts_ms: int | None, origin: str) -> bool:
        """Record ground truth for an input (PLC reject gate, operator); capture it if the model disagreed."""
        joined = self.capture.join_label(source, label, part_id, ts_ms) if self.capture else None
        document = {
            "source": source,
            "label": label,
            "part_id": part_id if part_id is not None else (joined.part_id if joined else None),
            "ts_ms": ts_ms if ts_ms is not None else (joined.ts_ms if joined else None),
            "origin": origin,
            "joined": joined is not None,
            "predicted": joined.predicted if joined else None,
            "model": joined.model if joined else None,
        }
        self._to_outbox(f"labels/{source}", "event", document)
        if joined is not None and self.capture is not None:
            sample = self.capture.capture_disagreement(joined, label)
            if sample is not None:
                self._sample(sample, joined.payload)
        return joined is not None

    def upstream(self, stream: str, priority: str, document: dict[str, Any]) -> None:
        """Queue a document for cloud-sync only (no MQTT), e.g. a learned baseline on stream baseline/{asset}."""
        self._to_outbox(stream, priority, document)

    def _to_outbox(
        self,
        stream: str,
        priority: str,
        document: dict[str, Any],
        body: bytes | None = None,
        then: Callable[[int | None], None] | None = None,
    ) -> bool:
        """Queue a record for cloud-sync; False when there is no outbox or it refused (then `then` never runs)."""
        if self.outbox is None:
            return False
        try:
            encoded = body if body is not None else json.dumps(document, separators=(",", ":")).encode()
            self.outbox.append(stream, priority, encoded, then=then)
        except EdgeAgentError as exc:
            log.warning("outbox refused a record: %s", exc)
            return False
        return True

    def _sample(self, sample: dict[str, Any], payload: bytes) -> None:
        document = {**sample, "payload_b64": base64.b64encode(payload).decode()}
        self._to_outbox(f"samples/{sample['source']}", "sample", document)
        self.stats.count("captured", sample["source"])

    def _tag(self, asset: str, tag: str, message: InboundMessage) -> None:
        stream = f"tag/{asset}"
        self.stats.count("received", stream)
        try:
            update = parse_tag(asset, tag, message.payload)
        except EdgeAgentError as exc:
            self._problem("malformed", stream, message.topic, exc)
            return
        self.tags[(asset, tag)] = update
        if self.line is not None:
            self.line.tag(update)
        self.stats.count("processed", stream)

    def _apply_tag_output(self, output: Any) -> None:
        for update in output.updates:
            self.tags[(update.asset, update.tag)] = update
            if self.line is not None:
                self.line.tag(update)
        if output.updates:
            self.stats.count("processed", "sparkplug", len(output.updates))
        for topic, payload in output.publish:
            if self.publisher is not None:
                self.publisher.publish(topic, payload, qos=0)
        for event in output.events:
            detail = {k: v for k, v in event.items() if k != "type"}
            self.event(str(event.get("type", "sparkplug")), **detail)

    # Called from worker threads.
    def result(self, kind: str, item: WorkItem, document: dict[str, Any]) -> None:
        """Publish a result (QoS 1), store it, count it."""
        topic = self.topics.inspection(item.source) if kind == "inspection" else self.topics.health(item.source)
        encoded = json.dumps(document, separators=(",", ":")).encode()  # once, for the broker and the outbox
        if self.store is not None:
            self.store.add_result(kind, document)
        if kind == "inspection":
            priority = "ng_result" if document["verdict"] == "ng" else "ok_result"
        else:
            priority = "alert" if document["anomaly"] or document["state"] != "healthy" else "health"
        publish: Callable[[int | None], None] | None = None
        if self.publisher is not None:
            publisher = self.publisher

            def publish(seq: int | None) -> None:
                publisher.publish(topic, encoded, qos=1)

        # with an outbox, the result is published once its record is committed: a kill -9 in between must not
        # leave a result that subscribers saw but the cloud never gets
        if not self._to_outbox(f"{kind}/{item.source}", priority, document, encoded, then=publish) and publish:
            publish(None)
        if self.capture is not None:
            content_type = "application/json"
            if kind == "inspection":
                content_type = "image/png" if item.payload.startswith(b"\x89PNG") else "image/jpeg"
            captured = self.capture.consider(item.source, item.payload, content_type, document)
            if captured is not None:
                self._sample(captured[1], item.payload)
        if kind == "inspection" and self.line is not None:
            self.line.verdict(item.source, document["verdict"], int(document["ts_ms"]))
        self.stats.count("processed", item.stream)
        self.stats.observe(kind, document["latency_ms"])
        model = document["model"]
        self.stats.count("model_ok", model["name"])
        self.stats.observe(f"infer:{model['name']}@{model['version']}", document["inference_ms"])

    def malformed(self, item: WorkItem, error: EdgeAgentError) -> None:
        """Count and report a bad payload."""
        self._problem("malformed", item.stream, item.stream, error)

    def failed(self, item: WorkItem, error: Exception) -> None:
        """Count and report a processing failure."""
        self.stats.count("model_failed", item.model)
        self._problem("failed", item.stream, item.stream, error)

    def _problem(self, kind: str, stream: str, where: str, error: Exception) -> None:
        self.stats.count(kind, stream)
        count = self._reporter.note(f"{kind}:{stream}")
        if count:
            log.warning("%s input on %s (%d since last report): %s", kind, where, count, error)
            self.event(f"{kind}_input", stream=stream, count=count, error=str(error)[:300])

    def event(self, event_type: str, **detail: Any) -> None:
        """Publish an agent event and keep it in the store."""
        document = {"ts_ms": int(time.time() * 1000), "type": event_type, "gateway": self.topics.gateway, **detail}
        if self.publisher is not None:
            self.publisher.publish(self.topics.events, json.dumps(document, default=str), qos=1)
        if self.store is not None:
            self.store.add(EventRecord(ts_ms=document["ts_ms"], type=event_type, detail_json=json.dumps(detail)))
        self._to_outbox("events", "event", document)

    def on_connection(self, connected: bool, detail: str) -> None:
        """Broker connection changes: publish the retained online status on every (re)connect."""
        self.broker_connected = connected
        self.broker_detail = detail
        if self.line is not None:
            self.line.connection("mqtt", connected)
        if connected:
            self.publish_status()

    def status_document(self, state: str = "online") -> dict[str, Any]:
        """The retained status document."""
        return {
            "state": state,
            "ts_ms": int(time.time() * 1000),
            "gateway": self.topics.gateway,
            "agent_version": __version__,
            "models": self.models_info,
            "queues": {"frames": len(self.frames), "windows": len(self.windows)},
            "totals": {k: self.stats.total(k) for k in ("received", "processed", "dropped", "malformed", "failed")},
        }

    def publish_retained(self, topic: str, payload: bytes) -> None:
        """Publish a retained QoS 1 document (line KPIs per shift)."""
        if self.publisher is not None:
            self.publisher.publish(topic, payload, qos=1, retain=True)

    def publish_status(self, state: str = "online") -> None:
        """Publish the status document, retained."""
        if self.publisher is not None:
            self.publisher.publish(self.topics.status, json.dumps(self.status_document(state)), qos=1, retain=True)

    def tick(self) -> None:
        """Periodic work from the main loop (Sparkplug reorder timeouts)."""
        if self.tag_source is not None:
            try:
                self._apply_tag_output(self.tag_source.poll())
            except EdgeAgentError as exc:
                log.warning("sparkplug poll failed: %s", exc)

"""Sparkplug B 3.0 host-side ingest: births, aliases, seq reordering, deaths and rebirth requests."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import TypeVar

from edge_agent.errors import EdgeAgentError, InputError
from edge_agent.ingest import sparkplug_b_pb2 as pb
from edge_agent.ingest.sparkplug_codec import (
    SPARKPLUG_TOPIC_PREFIX,
    SparkplugTopic,
    bd_seq,
    decode_payload,
    parse_topic,
    rebirth_request,
    require_seq,
)
from edge_agent.ingest.sparkplug_state import DataResult, MetricSet, NodeState
from edge_agent.ingest.tags import TagUpdate

__all__ = ["SPARKPLUG_TOPIC_PREFIX", "SparkplugIngest", "SparkplugOutput"]

logger = logging.getLogger(__name__)

SEQ_WINDOW = 128  # a seq up to 127 ahead of the expected one is held; one further "ahead" is an old message
MAX_HELD = 64  # held messages per edge node before giving up without waiting for the timeout
_MAX_LIMITER_KEYS = 4096
_K = TypeVar("_K")


@dataclass(frozen=True)
class SparkplugOutput:
    """What one Sparkplug message (or a poll) produced: tag updates, messages to publish and events."""

    updates: list[TagUpdate] = field(default_factory=list)
    publish: list[tuple[str, bytes]] = field(default_factory=list)
    events: list[dict[str, object]] = field(default_factory=list)


class SparkplugIngest:
    """Host-side Sparkplug B state machine; thread-safe, never blocks, raises only EdgeAgentError subclasses."""

    def __init__(
        self,
        group_ids: Collection[str] | None = None,
        reorder_timeout_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        wall_clock: Callable[[], float] = time.time,
        rebirth_interval_s: float = 5.0,
    ) -> None:
        """Track the given Sparkplug groups (all when None); clock is monotonic seconds, wall_clock epoch seconds."""
        groups = sorted(set(group_ids or ()))
        if any(not g or "/" in g or "+" in g or "#" in g for g in groups):
            raise InputError(f"Sparkplug group ids must be non-empty and free of '/', '+', '#': {groups}")
        if reorder_timeout_s < 0 or rebirth_interval_s < 0:
            raise InputError("Sparkplug reorder_timeout_s and rebirth_interval_s must be >= 0")
        self._groups = groups
        self._group_set = frozenset(groups)
        self._timeout = reorder_timeout_s
        self._clock = clock
        self._wall = wall_clock
        self._rebirth_interval = rebirth_interval_s
        self._nodes: dict[str, NodeState] = {}
        self._last_rebirth: dict[str, float] = {}
        self._last_event: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def subscriptions(self) -> list[str]:
        """MQTT filters for the node and device messages of our groups (not STATE, not NCMD/DCMD)."""
        groups = self._groups or ["+"]
        node = [f"{SPARKPLUG_TOPIC_PREFIX}/{g}/{t}/+" for g in groups for t in ("NBIRTH", "NDATA", "NDEATH")]
        device = [f"{SPARKPLUG_TOPIC_PREFIX}/{g}/{t}/+/+" for g in groups for t in ("DBIRTH", "DDATA", "DDEATH")]
        return node + device

    def handle(self, topic: str, payload: bytes) -> SparkplugOutput:
        """Process one MQTT message; raises DecodeError/InputError for a bad topic or payload."""
        with self._lock:
            try:
                return self._handle(topic, payload)
            except EdgeAgentError:
                raise
            except Exception as exc:  # a bug must reach the paho thread as an input error, nothing else
                logger.exception("Sparkplug message on %s could not be processed", topic)
                raise InputError(f"Sparkplug message on {topic!r} could not be processed: {exc}") from exc

    def poll(self) -> SparkplugOutput:
        """Give up on seq gaps older than reorder_timeout_s: apply what was held and request a rebirth."""
        out = SparkplugOutput()
        with self._lock:
            now = self._clock()
            for node in self._nodes.values():
                if node.gap_since is not None and now - node.gap_since >= self._timeout:
                    self._give_up(node, out)
        return out

    def node_states(self) -> dict[str, dict[str, object]]:
        """Per edge node ('group/node'): online, bdSeq, last seq, metric counts, stale and held messages."""
        with self._lock:
            now = self._clock()
            return {
                key: {
                    "group": node.group,
                    "edge_node": node.edge_node,
                    "online": node.online,
                    "stale": not node.online,
                    "bdSeq": node.bd_seq,
                    "last_seq": node.last_seq,
                    "metric_count": len(node.metrics.by_name) + sum(len(d.by_name) for d in node.devices.values()),
                    "held_messages": len(node.held),
                    "rebirths_requested": node.rebirths_requested,
                    "last_message_age_s": round(now - node.last_message, 3),
                    "devices": {
                        name: {"online": d.online, "stale": not d.online, "metric_count": len(d.by_name)}
                        for name, d in node.devices.items()
                    },
                }
                for key, node in self._nodes.items()
            }

    # -- message handling (the lock is held) ----------------------------------------------------------
    def _handle(self, topic: str, payload: bytes) -> SparkplugOutput:
        """Route one message by type; the lock is held."""
        t = parse_topic(topic)
        out = SparkplugOutput()
        if t.message_type in ("STATE", "NCMD", "DCMD") or (self._group_set and t.group not in self._group_set):
            return out
        message = decode_payload(payload)
        node = self._nodes.get(t.node_key)
        if t.message_type == "NBIRTH":
            self._node_birth(t, message, require_seq(message, t.message_type), out)
        elif t.message_type == "NDEATH":
            self._node_death(t, node, message, out)
        else:
            seq = require_seq(message, t.message_type)
            if node is None or not node.online:
                fields = {"edge_node": t.node_key, "message_type": t.message_type}
                self._limited_event(out, "sparkplug_unknown_node", t.node_key, **fields)
                self._request_rebirth(t.group, t.edge_node, f"{t.message_type} before NBIRTH", out)
            else:
                node.last_message = self._clock()
                self._sequenced(node, t, message, seq, out)
        return out

    def _node_birth(self, t: SparkplugTopic, message: pb.Payload, seq: int, out: SparkplugOutput) -> None:
        """NBIRTH: a new session (bdSeq), new aliases, seq restarts from the NBIRTH seq."""
        ts = self._timestamp(message)
        metrics, result = MetricSet.from_birth(t.edge_node, message, ts)
        node = self._nodes.get(t.node_key)
        if node is None:
            node = self._nodes[t.node_key] = NodeState(t.group, t.edge_node, metrics)
        else:  # a rebirth: metrics no longer declared go stale, devices stay stale until their DBIRTH
            out.updates.extend(node.metrics.mark_stale(ts, keep=metrics.by_name))
            for device in node.devices.values():
                out.updates.extend(device.mark_stale(ts))
            node.metrics, node.devices = metrics, {}
        self._report(t, result, out)
        node.online, node.bd_seq = True, bd_seq(message)
        node.next_seq, node.last_seq = (seq + 1) % 256, seq
        node.held, node.gap_since = {}, None
        node.last_message = self._clock()
        logger.info("Sparkplug NBIRTH %s bdSeq=%s seq=%d", t.node_key, node.bd_seq, seq)

    def _node_death(self, t: SparkplugTopic, node: NodeState | None, message: pb.Payload, out: SparkplugOutput) -> None:
        """NDEATH with the session bdSeq: everything of the node goes stale; another bdSeq is ignored."""
        if node is None or not node.online:
            return
        death_bd_seq = bd_seq(message)
        if node.bd_seq is not None and death_bd_seq != node.bd_seq:
            event = {"type": "sparkplug_stale_death", "edge_node": t.node_key, "bdSeq": death_bd_seq}
            out.events.append({**event, "current_bdSeq": node.bd_seq})
            return
        # NDEATH is usually the MQTT will registered at connect time, so its own timestamp is old.
        out.updates.extend(node.mark_stale(int(self._wall() * 1000)))
        node.online, node.held, node.gap_since = False, {}, None
        out.events.append({"type": "sparkplug_node_death", "edge_node": t.node_key, "bdSeq": death_bd_seq})
        logger.info("Sparkplug NDEATH %s bdSeq=%s", t.node_key, death_bd_seq)

    def _sequenced(
        self, node: NodeState, t: SparkplugTopic, message: pb.Payload, seq: int, out: SparkplugOutput
    ) -> None:
        """Apply in seq order: hold messages that arrive early, drain them when the gap fills."""
        ahead = (seq - node.next_seq) % 256
        if ahead == 0:
            self._apply(node, t, message, seq, out)
            while node.next_seq in node.held:
                held_topic, held_message = node.held.pop(node.next_seq)
                self._apply(node, held_topic, held_message, node.next_seq, out)
            node.gap_since = self._clock() if node.held else None
        elif ahead < SEQ_WINDOW:
            node.held.setdefault(seq, (t, message))
            if node.gap_since is None:
                node.gap_since = self._clock()
            if len(node.held) >= MAX_HELD:
                self._give_up(node, out)
        else:
            fields = {"edge_node": t.node_key, "seq": seq, "expected": node.next_seq}
            self._limited_event(out, "sparkplug_seq_old", t.node_key, **fields)
            self._request_rebirth(node.group, node.edge_node, "old seq", out)

    def _give_up(self, node: NodeState, out: SparkplugOutput) -> None:
        """The gap outlived the timeout: report it, apply what was held in seq order, request a rebirth."""
        expected = node.next_seq
        order = sorted(node.held, key=lambda s: (s - expected) % 256)
        missing = (order[0] - expected) % 256 if order else 0
        key = f"{node.group}/{node.edge_node}"
        event = {"type": "sparkplug_seq_gap", "edge_node": key, "expected": expected, "missing": missing}
        out.events.append({**event, "held": len(order)})
        logger.warning("Sparkplug seq gap on %s: %d missing from %d, %d held", key, missing, expected, len(order))
        held, node.held, node.gap_since = node.held, {}, None
        for seq in order:  # the held messages are real data: apply them in seq order, then ask for a rebirth
            held_topic, held_message = held[seq]
            self._apply(node, held_topic, held_message, seq, out)
        self._request_rebirth(node.group, node.edge_node, "seq gap", out)

    def _apply(self, node: NodeState, t: SparkplugTopic, message: pb.Payload, seq: int, out: SparkplugOutput) -> None:
        """Apply one in-order NDATA, DBIRTH, DDATA or DDEATH."""
        node.next_seq, node.last_seq = (seq + 1) % 256, seq
        ts = self._timestamp(message)
        if t.message_type == "NDATA":
            self._report(t, node.metrics.apply_data(message, ts), out)
            return
        device = str(t.device)
        current = node.devices.get(device)
        if t.message_type == "DBIRTH":
            metrics, result = MetricSet.from_birth(f"{t.edge_node}/{device}", message, ts)
            if current is not None:
                out.updates.extend(current.mark_stale(ts, keep=metrics.by_name))
            node.devices[device] = metrics
            self._report(t, result, out)
        elif current is None or not current.online:
            if t.message_type == "DDATA":
                fields = {"edge_node": t.node_key, "device": device}
                self._limited_event(out, "sparkplug_unknown_device", f"{t.node_key}/{device}", **fields)
                self._request_rebirth(t.group, t.edge_node, "DDATA before DBIRTH", out)
        elif t.message_type == "DDATA":
            self._report(t, current.apply_data(message, ts), out)
        else:  # DDEATH
            out.updates.extend(current.mark_stale(ts))
            out.events.append({"type": "sparkplug_device_death", "edge_node": t.node_key, "device": device})

    def _report(self, t: SparkplugTopic, result: DataResult, out: SparkplugOutput) -> None:
        """Pass on a metric set's updates and turn its findings into events (and a rebirth for unknown aliases)."""
        out.updates.extend(result.updates)
        asset = t.edge_node if t.device is None else f"{t.edge_node}/{t.device}"
        fields: dict[str, object] = {"edge_node": t.node_key, "asset": asset}
        if result.unsupported:
            out.events.append({"type": "sparkplug_unsupported_datatype", **fields, "metrics": result.unsupported})
        if result.problems:
            self._limited_event(out, "sparkplug_bad_metric", asset, **fields, problems=result.problems[:10])
        if result.unknown:
            self._limited_event(out, "sparkplug_unknown_alias", asset, **fields, metrics=result.unknown[:10])
            self._request_rebirth(t.group, t.edge_node, "unknown alias", out)

    # -- helpers ------------------------------------------------------------------------------------
    def _timestamp(self, message: pb.Payload) -> int:
        """The payload timestamp (epoch ms), or now when it has none."""
        return int(message.timestamp) if message.HasField("timestamp") else int(self._wall() * 1000)

    def _request_rebirth(self, group: str, edge_node: str, reason: str, out: SparkplugOutput) -> None:
        """Publish an NCMD Node Control/Rebirth, at most once per edge node per rebirth interval."""
        key, now = f"{group}/{edge_node}", self._clock()
        last = self._last_rebirth.get(key)
        if last is not None and now - last < self._rebirth_interval:
            return
        _remember(self._last_rebirth, key, now, self._rebirth_interval)
        out.publish.append(rebirth_request(group, edge_node, int(self._wall() * 1000)))
        out.events.append({"type": "sparkplug_rebirth_requested", "edge_node": key, "reason": reason})
        node = self._nodes.get(key)
        if node is not None:
            node.rebirths_requested += 1
        logger.info("Sparkplug rebirth requested from %s (%s)", key, reason)

    def _limited_event(self, out: SparkplugOutput, kind: str, key: str, **fields: object) -> None:
        """Emit a problem event at most once per key (edge node or asset) and kind per rebirth interval."""
        now = self._clock()
        last = self._last_event.get((key, kind))
        if last is not None and now - last < self._rebirth_interval:
            return
        _remember(self._last_event, (key, kind), now, self._rebirth_interval)
        out.events.append({"type": kind, **fields})
        logger.warning("Sparkplug %s: %s", kind, fields)


def _remember(times: dict[_K, float], key: _K, now: float, interval: float) -> None:
    """Store a time in a rate-limit table, dropping expired entries when the table grows large."""
    if len(times) >= _MAX_LIMITER_KEYS:
        for old in [k for k, t in times.items() if now - t >= interval]:
            del times[old]
    times[key] = now

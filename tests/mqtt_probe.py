"""A test-side MQTT client that records what the agent publishes (built on edge_agent.mqtt)."""

from __future__ import annotations

import fnmatch
import json
import threading
import time
from typing import Any

from edge_agent.mqtt import InboundMessage, MqttClient, MqttSettings


def topic_matches(pattern: str, topic: str) -> bool:
    """MQTT wildcard match (+ one level, # the rest)."""
    p_parts, t_parts = pattern.split("/"), topic.split("/")
    for i, part in enumerate(p_parts):
        if part == "#":
            return True
        if i >= len(t_parts) or (part != "+" and part != t_parts[i]):
            return False
    return len(p_parts) == len(t_parts)


class Probe:
    """Subscribes to topics, keeps every message, and waits for conditions."""

    def __init__(self, port: int, client_id: str, subscribe: list[str], persistent: bool = False) -> None:
        self.messages: list[InboundMessage] = []
        self._cond = threading.Condition()
        settings = MqttSettings(
            host="127.0.0.1",
            port=port,
            client_id=client_id,
            session_expiry_s=3600 if persistent else 0,
            reconnect_min_s=0.5,
            reconnect_max_s=1,
        )
        self.client = MqttClient(settings, self._record)
        self.client.subscribe(subscribe)
        self.client.start()
        if not self.client.wait_connected(10):
            raise TimeoutError("probe could not connect")
        time.sleep(0.2)  # let SUBACK arrive before the test publishes

    def _record(self, message: InboundMessage) -> None:
        with self._cond:
            self.messages.append(message)
            self._cond.notify_all()

    def publish(self, topic: str, payload: bytes | str, props: dict[str, str] | None = None, qos: int = 1) -> None:
        """Publish like a camera or DAQ would."""
        self.client.publish(topic, payload, qos=qos, user_properties=props)

    def on(self, pattern: str) -> list[InboundMessage]:
        """Messages received on topics matching the pattern."""
        with self._cond:
            return [m for m in self.messages if topic_matches(pattern, m.topic) or fnmatch.fnmatch(m.topic, pattern)]

    def json_on(self, pattern: str) -> list[dict[str, Any]]:
        """Decoded JSON payloads on topics matching the pattern."""
        return [json.loads(m.payload) for m in self.on(pattern)]

    def wait_for(self, pattern: str, count: int, timeout: float = 20.0) -> list[InboundMessage]:
        """Block until at least count messages matched, or fail with what arrived."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [m for m in self.messages if topic_matches(pattern, m.topic)]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    topics = sorted({m.topic for m in self.messages})
                    raise TimeoutError(f"{len(found)}/{count} messages on {pattern}; seen topics {topics}")
                self._cond.wait(remaining)

    def close(self) -> None:
        """Disconnect."""
        self.client.stop()

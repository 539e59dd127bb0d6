"""Which QoS 1 messages to send again after a broker comes back without what it had acknowledged."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class OutgoingMessage:
    """A QoS 1 message as the agent handed it to the MQTT client."""

    topic: str
    payload: bytes | str
    retain: bool
    properties: Any = None


class AckedReplayWindow:
    """Remembers QoS 1 messages from send until `window_s` after their PUBACK.

    mosquitto acknowledges a QoS 1 PUBLISH before it has forwarded or saved it; killed in that gap, it comes back
    without the message and the publisher's session no longer holds it either. What was acknowledged within the
    window before a disconnect is therefore sent again after the reconnect (at least once: subscribers dedupe by
    result id). Thread-safe, and it never calls out while holding its lock, so it cannot deadlock against the
    client library's own locks (the PUBACK callback runs in the network thread, often before `sent` is called).
    """

    def __init__(self, window_s: float, clock: Callable[[], float] = time.monotonic, max_messages: int = 100_000):
        self.window_s = window_s
        self._clock = clock
        self._max = max_messages
        self._lock = threading.Lock()
        self._unacked: dict[int, OutgoingMessage] = {}
        # PUBACKs that arrived before `sent` recorded their message (mid -> ack time), in arrival order
        self._early_acks: OrderedDict[int, float] = OrderedDict()
        self._acked: deque[tuple[float, OutgoingMessage]] = deque()
        self._replay: list[OutgoingMessage] = []

    @property
    def enabled(self) -> bool:
        """False when the window is 0 (replay switched off)."""
        return self.window_s > 0

    def sent(self, mid: int, message: OutgoingMessage) -> None:
        """Record a message the client accepted under message id `mid`."""
        with self._lock:
            acked_at = self._early_acks.pop(mid, None)
            if acked_at is not None:
                self._remember_acked(acked_at, message)
            elif len(self._unacked) < self._max:
                self._unacked[mid] = message

    def acked(self, mid: int) -> None:
        """The broker acknowledged `mid` (also called for QoS 0 sends, which are never recorded)."""
        now = self._clock()
        with self._lock:
            message = self._unacked.pop(mid, None)
            if message is not None:
                self._remember_acked(now, message)
            else:
                self._early_acks[mid] = now
                self._early_acks.move_to_end(mid)
                horizon = now - max(self.window_s, 1.0)
                while self._early_acks and next(iter(self._early_acks.values())) < horizon:
                    self._early_acks.popitem(last=False)
            self._prune(now)

    def disconnected(self) -> int:
        """The connection dropped: what was acknowledged within the window is due again; returns how many."""
        now = self._clock()
        with self._lock:
            self._prune(now)
            due = [message for _, message in self._acked]
            self._acked.clear()
            self._replay.extend(due)
            # the client re-sends unacknowledged messages itself; their mids are reused after the reconnect
            self._early_acks.clear()
            return len(due)

    def take_replay(self) -> list[OutgoingMessage]:
        """Messages to send again now that the connection is back (each handed out once)."""
        with self._lock:
            replay, self._replay = self._replay, []
            return replay

    def acked_since(self, since: float) -> list[OutgoingMessage]:
        """Messages acknowledged at or after `since` (a clock reading), oldest first."""
        with self._lock:
            return [message for acked_at, message in self._acked if acked_at >= since]

    def now(self) -> float:
        """The window's clock (for `acked_since`)."""
        return self._clock()

    def _remember_acked(self, acked_at: float, message: OutgoingMessage) -> None:
        self._acked.append((acked_at, message))
        while len(self._acked) > self._max:
            self._acked.popleft()

    def _prune(self, now: float) -> None:
        horizon = now - self.window_s
        while self._acked and self._acked[0][0] < horizon:
            self._acked.popleft()

"""Bounded work queues with the drop policies of DESIGN.md section 3; every drop is counted."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Generic, Literal, TypeVar

T = TypeVar("T")
DropPolicy = Literal["drop_oldest", "block_then_drop"]


class DropQueue(Generic[T]):
    """A bounded FIFO: drop_oldest evicts the oldest item; block_then_drop waits briefly, then drops the new one.

    The producer is the MQTT network thread, which also sends the results and the acknowledgements: a producer
    waits at most block_s per item and at most max_block_share of any second in all, so a sustained flood turns
    into immediate drops instead of a network thread that sits in put() while results pile up behind it.
    """

    def __init__(self, maxsize: int, policy: DropPolicy, block_s: float = 0.05, max_block_share: float = 0.1) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be >= 1")
        self.maxsize = maxsize
        self.policy = policy
        self.block_s = block_s
        self.max_block_share = max_block_share
        self._second_started = time.monotonic()
        self._blocked_s = 0.0  # waited in put() since _second_started
        self._items: deque[T] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self.dropped = 0
        self.accepted = 0

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: T) -> T | None:
        """Enqueue; returns the item that was dropped to make room (or the item itself if refused)."""
        with self._cond:
            if self._closed:
                self.dropped += 1
                return item
            dropped: T | None = None
            if len(self._items) >= self.maxsize:
                if self.policy == "drop_oldest":
                    dropped = self._items.popleft()
                else:
                    started = time.monotonic()
                    if started - self._second_started >= 1.0:
                        self._second_started, self._blocked_s = started, 0.0
                    deadline = started + min(self.block_s, self.max_block_share - self._blocked_s)
                    while len(self._items) >= self.maxsize and not self._closed:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            break
                        self._cond.wait(remaining)
                    self._blocked_s += time.monotonic() - started
                    if len(self._items) >= self.maxsize or self._closed:
                        self.dropped += 1
                        return item
            if dropped is not None:
                self.dropped += 1
            self._items.append(item)
            self.accepted += 1
            self._cond.notify()
            return dropped

    def get_batch(self, max_items: int, timeout: float) -> list[T]:
        """Up to max_items items; waits up to timeout for the first one. Empty list when closed or idle."""
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout)
            batch: list[T] = []
            while self._items and len(batch) < max_items:
                batch.append(self._items.popleft())
            if batch:
                self._cond.notify_all()  # room for producers blocked by block_then_drop
            return batch

    def close(self) -> None:
        """Wake every waiter; later puts are refused (and counted)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        """True after close()."""
        return self._closed

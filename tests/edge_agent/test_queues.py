"""Given a full queue, when more work arrives, then the policy decides what is dropped and every drop counts."""

from __future__ import annotations

import threading
import time

from edge_agent.queues import DropQueue


def test_drop_oldest_keeps_the_newest_items_and_counts_drops() -> None:
    queue: DropQueue[int] = DropQueue(3, "drop_oldest")
    dropped = [queue.put(i) for i in range(5)]
    assert dropped == [None, None, None, 0, 1]
    assert queue.get_batch(10, 0.1) == [2, 3, 4]
    assert (queue.accepted, queue.dropped) == (5, 2)


def test_block_then_drop_waits_for_room_then_refuses_the_new_item() -> None:
    queue: DropQueue[int] = DropQueue(1, "block_then_drop", block_s=0.05)
    assert queue.put(1) is None
    started = time.monotonic()
    assert queue.put(2) == 2
    assert time.monotonic() - started >= 0.045
    assert queue.dropped == 1
    threading.Timer(0.02, lambda: queue.get_batch(1, 0.1)).start()
    blocking_queue: DropQueue[int] = queue
    assert blocking_queue.put(3) is None  # a consumer made room within the wait


def test_a_batch_takes_what_is_there_up_to_the_limit_and_close_wakes_waiters() -> None:
    queue: DropQueue[int] = DropQueue(100, "drop_oldest")
    for i in range(20):
        queue.put(i)
    assert queue.get_batch(16, 0.1) == list(range(16))
    assert queue.get_batch(16, 0.1) == [16, 17, 18, 19]
    threading.Timer(0.05, queue.close).start()
    started = time.monotonic()
    assert queue.get_batch(16, 5.0) == []
    assert time.monotonic() - started < 1.0
    assert queue.put(99) == 99 and queue.dropped == 1

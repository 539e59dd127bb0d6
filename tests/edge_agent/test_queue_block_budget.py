"""Given a full block_then_drop queue, when a flood goes on, then its producer waits only a share of each second."""

from __future__ import annotations

import time

from edge_agent.queues import DropQueue


def _put_time(queue: DropQueue[int], item: int) -> float:
    started = time.monotonic()
    assert queue.put(item) == item  # refused: nobody makes room
    return time.monotonic() - started


def test_a_flood_into_a_full_window_queue_turns_into_immediate_drops_after_the_producers_share() -> None:
    # given a full queue whose producer may wait 50 ms per item and 100 ms of any second
    queue: DropQueue[int] = DropQueue(1, "block_then_drop", block_s=0.05, max_block_share=0.1)
    assert queue.put(0) is None
    # when more items arrive and no consumer makes room
    waits = [_put_time(queue, i) for i in range(1, 6)]
    # then the first two wait their 50 ms, the rest are dropped at once, and every drop counts
    assert all(w >= 0.045 for w in waits[:2]), waits
    assert all(w < 0.02 for w in waits[2:]), waits
    assert queue.dropped == 5
    # and a second later the producer may wait again
    time.sleep(1.0)
    assert _put_time(queue, 6) >= 0.045

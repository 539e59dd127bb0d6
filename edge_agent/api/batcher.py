"""Dynamic batching of API requests into shared model runs, with a bounded queue and a share for MQTT."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from edge_agent.api.tensors import ApiError, Status

log = logging.getLogger(__name__)
RunBatch = Callable[[np.ndarray], list[np.ndarray]]
MAX_YIELD_S = 0.05


@dataclass(frozen=True)
class BatchSettings:
    """How requests are grouped into model runs."""

    max_queue_delay_s: float = 0.002
    preferred_batch_size: int = 8
    max_batch_size: int = 32
    queue_size: int = 64
    workers: int = 1
    share_when_busy: float = 0.2


@dataclass
class Ticket:
    """A request being prepared; done once it was submitted or gave up."""

    done: bool = False


@dataclass
class _Job:
    key: object
    run: RunBatch
    rows: np.ndarray
    enqueued: float = field(default_factory=time.perf_counter)
    done: threading.Event = field(default_factory=threading.Event)
    outputs: list[np.ndarray] | None = None
    error: BaseException | None = None
    queue_s: float = 0.0


class DynamicBatcher:
    """Runs queued rows of the same pipeline together; waits for company only while other requests are on the way.

    A request that finds no other request decoding runs at once (one client pays no queue delay); while others are
    being decoded it waits up to max_queue_delay for them, or until preferred_batch_size rows are queued.
    """

    def __init__(
        self,
        settings: BatchSettings,
        mqtt_backlogged: Callable[[], bool] = lambda: False,
        observe_queue: Callable[[float], None] = lambda seconds: None,
    ) -> None:
        self.settings = settings
        self._backlogged = mqtt_backlogged
        self._observe_queue = observe_queue
        self._jobs: deque[_Job] = deque()
        self._queued_rows = 0
        self._preparing = 0
        self._cond = threading.Condition()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._loop, name=f"api-batcher-{i}", daemon=True) for i in range(settings.workers)
        ]
        self.batches = 0
        self.rows = 0

    def start(self) -> None:
        """Start the batching threads."""
        for thread in self._threads:
            thread.start()

    def close(self, timeout: float = 5.0) -> None:
        """Stop after the queued jobs ran."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout)

    @contextmanager
    def preparing(self) -> Iterator[Ticket]:
        """Marks a request that is decoding its inputs, so a batch waits for it (up to the queue delay); submitting
        with the ticket ends the mark in the same step as the enqueue, so no gap lets a batch leave early."""
        ticket = Ticket()
        with self._cond:
            self._preparing += 1
        try:
            yield ticket
        finally:
            with self._cond:
                if not ticket.done:
                    ticket.done = True
                    self._preparing -= 1
                    self._cond.notify_all()

    def submit(
        self, key: object, run: RunBatch, rows: np.ndarray, ticket: Ticket | None = None
    ) -> tuple[list[np.ndarray], float]:
        """Outputs for these rows (batch axis first) and the seconds they queued; blocks until they ran."""
        job = _Job(key, run, rows)
        with self._cond:
            if ticket is not None and not ticket.done:
                ticket.done = True
                self._preparing -= 1
            if self._closed:
                raise ApiError(Status.UNAVAILABLE, "the server is shutting down")
            if self._queued_rows + len(rows) > self.settings.queue_size:
                raise ApiError(
                    Status.EXHAUSTED,
                    f"inference queue full ({self._queued_rows} items waiting, limit {self.settings.queue_size})",
                )
            self._jobs.append(job)
            self._queued_rows += len(rows)
            self._cond.notify_all()
        job.done.wait()
        if job.error is not None:
            raise job.error
        assert job.outputs is not None
        return job.outputs, job.queue_s

    def _take(self) -> list[_Job] | None:
        """The next batch: the oldest job and queued jobs of the same pipeline, once it is worth running."""
        s = self.settings
        with self._cond:
            while True:
                if not self._jobs:
                    if self._closed:
                        return None
                    self._cond.wait(0.5)
                    continue
                first = self._jobs[0]
                chosen: list[_Job] = []
                rows = 0
                for job in self._jobs:
                    if job.key is first.key and (not chosen or rows + len(job.rows) <= s.max_batch_size):
                        chosen.append(job)
                        rows += len(job.rows)
                wait_s = first.enqueued + s.max_queue_delay_s - time.perf_counter()
                if rows >= s.preferred_batch_size or self._preparing == 0 or wait_s <= 0 or self._closed:
                    for job in chosen:
                        self._jobs.remove(job)
                    self._queued_rows -= rows
                    return chosen
                self._cond.wait(wait_s)

    def _loop(self) -> None:
        while (batch := self._take()) is not None:
            started = time.perf_counter()
            for job in batch:
                job.queue_s = started - job.enqueued
                self._observe_queue(job.queue_s)
            try:
                joined = batch[0].rows if len(batch) == 1 else np.concatenate([job.rows for job in batch])
                outputs = batch[0].run(joined)
                start = 0
                for job in batch:
                    end = start + len(job.rows)
                    job.outputs = [out[start:end] for out in outputs]
                    start = end
            except Exception as exc:  # every waiting request gets the failure; the thread keeps serving
                for job in batch:
                    job.error = exc
            for job in batch:
                job.done.set()
            self.batches += 1
            self.rows += sum(len(job.rows) for job in batch)
            self._yield_to_mqtt(time.perf_counter() - started)

    def _yield_to_mqtt(self, ran_s: float) -> None:
        """While MQTT inputs wait in a queue, API batches use at most share_when_busy of the time."""
        share = self.settings.share_when_busy
        if share < 1.0 and self._backlogged():
            time.sleep(min(MAX_YIELD_S, ran_s * (1.0 - share) / share))

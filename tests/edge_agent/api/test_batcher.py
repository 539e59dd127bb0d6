"""Given the dynamic batcher over a real ONNX session, concurrent requests share model runs, one alone never waits
for company, and a full queue refuses instead of growing."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from edge_agent.api.batcher import BatchSettings, DynamicBatcher
from edge_agent.api.tensors import ApiError, Status
from edge_agent.app import build_pipeline

REPO = Path(__file__).resolve().parents[3]
HEALTH = REPO / "models" / "bearing-health" / "1.1.0"


@pytest.fixture(scope="module")
def run() -> object:
    pipeline = build_pipeline(HEALTH, [REPO / "models" / "keys"])
    return pipeline.model.runtime.run


def _rows(seed: int, count: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(count, 40)).astype(np.float32)


def test_concurrent_requests_share_runs_and_each_gets_its_own_rows(run) -> None:
    # Given a batcher that waits up to 50 ms for company while requests are being decoded
    batcher = DynamicBatcher(BatchSettings(max_queue_delay_s=0.05, preferred_batch_size=16, max_batch_size=16))
    batcher.start()
    answers: dict[int, np.ndarray] = {}
    barrier = threading.Barrier(16)

    def client(i: int) -> None:
        with batcher.preparing() as ticket:
            barrier.wait()
            answers[i] = batcher.submit(run, run, _rows(i), ticket)[0][0][0]

    # When 16 clients arrive together
    threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    batcher.close()
    # Then they took far fewer model runs than requests, and each answer is its own rows' answer
    assert batcher.rows == 16 and batcher.batches <= 4
    for i, answer in answers.items():
        np.testing.assert_allclose(answer, run(_rows(i))[0][0], atol=1e-5)


def test_a_lone_request_runs_at_once_and_a_full_queue_answers_exhausted(run) -> None:
    gate = threading.Event()

    def gated(batch: np.ndarray) -> list[np.ndarray]:
        gate.wait(10)
        return run(batch)

    batcher = DynamicBatcher(
        BatchSettings(max_queue_delay_s=0.5, preferred_batch_size=8, max_batch_size=1, queue_size=2)
    )
    batcher.start()
    # Given nobody else decoding, a request does not sit out the 0.5 s queue delay
    started = time.perf_counter()
    batcher.submit(run, run, _rows(1))
    assert time.perf_counter() - started < 0.25
    # When one run is stuck and two more items wait, the next request is refused with the reason
    stuck = [threading.Thread(target=batcher.submit, args=(gated, gated, _rows(i))) for i in range(3)]
    for thread in stuck:
        thread.start()
        time.sleep(0.05)
    with pytest.raises(ApiError) as refused:
        batcher.submit(gated, gated, _rows(9))
    assert refused.value.status is Status.EXHAUSTED and "queue full" in str(refused.value)
    # Then once the run finishes, the queued requests are answered and the queue takes work again
    gate.set()
    for thread in stuck:
        thread.join(10)
    assert len(batcher.submit(run, run, _rows(2))[0][0]) == 1
    batcher.close()

"""The LiteRT adapter: several interpreters of one model answer concurrent calls exactly as one does."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from edge_agent.errors import InferenceError
from edge_agent.runtimes import RuntimeOptions
from edge_agent.runtimes.litert import LiteRTRuntime

MODEL = Path(__file__).resolve().parents[2] / "models" / "surface-inspection" / "1.2.0" / "model.tflite"


def _inputs(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    return [rng.integers(0, 256, size=(1, 256, 256, 1), dtype=np.uint8) for _ in range(n)]


def test_given_two_interpreters_when_eight_threads_call_at_once_then_each_answer_equals_the_serial_one() -> None:
    inputs = _inputs(16)
    serial = LiteRTRuntime(MODEL, RuntimeOptions(parallel=1))
    expected = [serial.run(x)[0] for x in inputs]
    pooled = LiteRTRuntime(MODEL, RuntimeOptions(parallel=2))
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda x: pooled.run(x)[0], inputs * 4))
    assert all(np.array_equal(a, expected[i % 16]) for i, a in enumerate(answers))
    # and a batch of several frames is answered item by item on one borrowed interpreter
    batch = np.concatenate(inputs[:3])
    assert np.array_equal(pooled.run(batch)[0], np.concatenate(expected[:3]))


def test_given_a_closed_runtime_when_called_then_it_says_so_instead_of_hanging() -> None:
    runtime = LiteRTRuntime(MODEL, RuntimeOptions(parallel=2))
    runtime.close()
    runtime.close()  # twice is harmless
    with pytest.raises(InferenceError, match="closed"):
        runtime.run(_inputs(1)[0])

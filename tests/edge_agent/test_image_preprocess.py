"""Manifest-driven image preprocessing: the uint8 fast path gives the very input the float path gives."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edge_agent.contracts import InputSpec
from edge_agent.errors import InputShapeError
from edge_agent.pipelines.image_preprocess import preprocess_image
from edge_agent.tensors import quantize

MODELS = Path(__file__).resolve().parents[2] / "models"


def _spec(package: str) -> InputSpec:
    return InputSpec.model_validate(json.loads((MODELS / package / "1.2.0" / "manifest.json").read_text())["input"])


def _float_path(image: np.ndarray, spec: InputSpec) -> np.ndarray:
    """The definition: every step in floats, then the input quantization."""
    import cv2

    resized = cv2.resize(image, (256, 256), interpolation=cv2.INTER_AREA)
    scaled = resized.astype(np.float32) * np.float32(1 / 255) + np.float32(0.0)
    return quantize(scaled[:, :, None], spec.dtype, spec.quantization)


def test_given_the_shipped_litert_manifest_when_a_frame_is_prepared_then_it_equals_the_float_path_bit_for_bit() -> None:
    spec = _spec("surface-inspection")
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(480, 640), dtype=np.uint8)
    image[0, :256] = np.arange(256, dtype=np.uint8)  # every 8-bit value appears
    fast = preprocess_image(image, spec)
    assert fast.dtype == np.uint8 and fast.shape == (256, 256, 1) and fast.flags.c_contiguous
    assert np.array_equal(fast, _float_path(image, spec))
    # and a frame already at the model's size keeps every pixel value as it is
    small = np.tile(np.arange(256, dtype=np.uint8), (256, 1))
    assert np.array_equal(preprocess_image(small, spec)[:, :, 0], small)


def test_given_a_scale_the_quantization_does_not_undo_when_prepared_then_the_float_path_is_taken() -> None:
    spec = _spec("surface-inspection")
    halved = spec.model_copy(
        update={
            "preprocessing": [*spec.preprocessing[:-1], spec.preprocessing[-1].model_copy(update={"factor": 0.5 / 255})]
        }
    )
    image = np.full((300, 300), 200, dtype=np.uint8)
    assert int(preprocess_image(image, halved)[0, 0, 0]) == 100


def test_given_the_onnx_float_manifest_when_prepared_then_it_gets_floats_in_0_1() -> None:
    out = preprocess_image(np.full((200, 200), 255, dtype=np.uint8), _spec("surface-inspection-onnx"))
    assert out.dtype == np.float32 and out.shape == (256, 256, 1) and float(out.max()) == pytest.approx(1.0)


def test_given_a_frame_below_the_minimum_when_prepared_then_it_is_refused_with_the_size() -> None:
    with pytest.raises(InputShapeError, match="at least 128 px"):
        preprocess_image(np.zeros((100, 400), dtype=np.uint8), _spec("surface-inspection"))

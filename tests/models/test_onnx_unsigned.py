"""Given a signed int8 QDQ model, storing it as uint8 keeps every value and runs alike on every x86 CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

from models.training.onnx_unsigned import check_portable, to_unsigned


def _signed_int8_conv(tmp_path: Path) -> bytes:
    """A 3x3 conv + relu net quantized like the inspection model: QDQ, per-channel, int8 everywhere."""
    rng = np.random.default_rng(3)
    weights = numpy_helper.from_array(rng.normal(0, 0.5, (8, 1, 3, 3)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["y"])],
        "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 16, 16])],
        [weights],
    )
    float_path, int8_path = tmp_path / "f.onnx", tmp_path / "q.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(float_path))

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{"x": rng.random((1, 1, 16, 16), dtype=np.float32)} for _ in range(8)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.items, None)

    quantize_static(
        str(float_path),
        str(int8_path),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8,
    )
    return int8_path.read_bytes()


def _reference(model_bytes: bytes, x: np.ndarray) -> np.ndarray:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {"x": x})[0])


def test_storing_a_signed_model_as_uint8_changes_no_output_and_leaves_no_int8_tensor(tmp_path: Path) -> None:
    # given a signed int8 QDQ model
    signed = _signed_int8_conv(tmp_path)
    x = np.random.default_rng(4).random((1, 1, 16, 16), dtype=np.float32)
    # when it is converted
    unsigned = to_unsigned(signed)
    # then its QDQ reference outputs are bit-identical, no int8 initializer is left, and the fused kernels agree
    np.testing.assert_array_equal(_reference(unsigned, x), _reference(signed, x))
    types = {numpy_helper.to_array(i).dtype for i in onnx.load_from_string(unsigned).graph.initializer}
    assert np.dtype(np.int8) not in types and np.dtype(np.uint8) in types
    assert check_portable(unsigned, x, tolerance=0.05) <= 0.05


def test_a_model_without_signed_tensors_is_refused(tmp_path: Path) -> None:
    # given a model that is already unsigned, when it is converted again, then a clear error says why
    unsigned = to_unsigned(_signed_int8_conv(tmp_path))
    with pytest.raises(ValueError, match="not a signed int8 QDQ model"):
        to_unsigned(unsigned)

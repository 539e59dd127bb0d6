"""Export of the trained surface-inspection network: full-int8 LiteRT and int8 QDQ ONNX, with runners for both."""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.contracts import Quantization
from models.training.inspection_data import SIDE, _to_float
from models.training.onnx_unsigned import check_portable, to_unsigned

logger = logging.getLogger(__name__)


def to_litert(model: Any, calib: np.ndarray) -> bytes:
    """Full-integer int8 TFLite with uint8 input (scale 1/255, zero point 0) and uint8 output."""
    import tensorflow as tf

    def representative() -> Any:
        # one frame spanning 0..1 pins the input range so the quantized input is the grey pixel
        span = np.zeros((1, SIDE, SIDE, 1), np.float32)
        span[0, 0, 0, 0] = 1.0
        yield [span]
        for item in calib:
            yield [_to_float(item[None])]

    with tempfile.TemporaryDirectory() as tmp:
        # a SavedModel freezes the Keras 3 variables; a bare concrete function would keep resource reads
        model.export(tmp, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
        return bytes(converter.convert())


class _LiteRT:
    """Minimal LiteRT runner for evaluation (the gateway has its own adapter)."""

    def __init__(self, model_bytes: bytes) -> None:
        """Load the flatbuffer into an interpreter."""
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_content=model_bytes, num_threads=2)
        self.interpreter.allocate_tensors()
        self.inp = self.interpreter.get_input_details()[0]
        self.out = self.interpreter.get_output_details()[0]

    @property
    def input_quantization(self) -> Quantization:
        """Input scale and zero point as stored in the model."""
        scale, zero = self.inp["quantization"]
        return Quantization(scale=float(scale), zero_point=int(zero))

    @property
    def output_quantization(self) -> Quantization:
        """Output scale and zero point as stored in the model."""
        scale, zero = self.out["quantization"]
        return Quantization(scale=float(scale), zero_point=int(zero))

    def raw(self, x: np.ndarray) -> np.ndarray:
        """Quantized outputs for a uint8 batch, run one item at a time."""
        rows = []
        for item in x:
            self.interpreter.set_tensor(self.inp["index"], item[None])
            self.interpreter.invoke()
            rows.append(self.interpreter.get_tensor(self.out["index"])[0].copy())
        return np.stack(rows)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """Dequantized class probabilities for a uint8 batch."""
        q = self.output_quantization
        return (self.raw(x).astype(np.float64) - q.zero_point) * q.scale

    def latency_ms(self, item: np.ndarray, runs: int = 30) -> float:
        """Median single-item latency on this machine."""
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            self.raw(item[None])
            times.append((time.perf_counter() - started) * 1000)
        return float(np.median(times))


def to_onnx_int8(model: Any, calib: np.ndarray, workdir: Path) -> bytes:
    """Export to ONNX (opset 17) with tf2onnx, then quantize to int8 QDQ with a calibration reader."""
    import onnx
    import tensorflow as tf
    import tf2onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    spec = (tf.TensorSpec((None, SIDE, SIDE, 1), tf.float32, name="image"),)
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=17)
    float_path, pre_path, int8_path = workdir / "f32.onnx", workdir / "pre.onnx", workdir / "int8.onnx"
    onnx.save(proto, str(float_path))
    # folds batch norm into the convolutions so the quantizer sees one weight tensor per conv
    quant_pre_process(str(float_path), str(pre_path), skip_symbolic_shape=True)

    class Reader(CalibrationDataReader):
        """Feeds calibration images one at a time."""

        def __init__(self) -> None:
            """Start at the first calibration image."""
            self.items = iter(calib)

        def get_next(self) -> dict[str, np.ndarray] | None:
            """Next calibration input or None when exhausted."""
            item = next(self.items, None)
            return None if item is None else {"image": _to_float(item[None])}

    pre = onnx.load(str(pre_path))
    # the classifier head after the last conv: pooling, concat, dense, softmax
    head = [n.name for n in pre.graph.node if n.op_type in ("GlobalMaxPool", "Concat", "MatMul", "Gemm", "Softmax")]
    # ONNX Runtime's fused int8 kernels round a little differently from the plain QDQ graph; on a model with
    # uncertain items that can add up past the portability tolerance. Variants in order of preference: the
    # first whose fused and reference outputs agree ships (the check itself is never relaxed).
    variants: list[dict[str, Any]] = [
        {"calibrate_method": CalibrationMethod.MinMax},
        {"calibrate_method": CalibrationMethod.MinMax, "nodes_to_exclude": head},
        {"calibrate_method": CalibrationMethod.Percentile, "extra_options": {"CalibPercentile": 99.999}},
        {"calibrate_method": CalibrationMethod.Percentile, "nodes_to_exclude": head},
    ]
    for attempt, variant in enumerate(variants):
        quantize_static(
            str(pre_path),
            str(int8_path),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            **variant,
        )
        # signed int8 saturates ONNX Runtime's kernels on x86 CPUs without VNNI; the same values as uint8 do not
        model_bytes = to_unsigned(int8_path.read_bytes())
        try:
            worst = check_portable(model_bytes, _to_float(calib[:64]))
        except RuntimeError as error:
            if attempt == len(variants) - 1:
                raise
            logger.warning("ONNX int8 variant %d not portable (%s); trying the next", attempt, error)
            continue
        logger.info("ONNX int8 variant %d %s: fused vs reference max difference %.4f", attempt, variant, worst)
        return model_bytes
    raise AssertionError("unreachable")  # pragma: no cover


class _Onnx:
    """Minimal ONNX Runtime runner for evaluation."""

    def __init__(self, model_bytes: bytes) -> None:
        """Create a CPU session."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        self.session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities for a float32 0..1 batch."""
        parts = [self.session.run(None, {self.input_name: x[i : i + 64]})[0] for i in range(0, len(x), 64)]
        return np.asarray(np.concatenate(parts), np.float64)

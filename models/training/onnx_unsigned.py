"""Store an int8 QDQ ONNX package's tensors as uint8 (U8U8), so every x86 CPU computes it alike; re-sign it.

x86 CPUs without VNNI (AVX2 only: most Atom, Celeron and older Xeon gateways) run ONNX Runtime's signed
int8 convolutions as unsigned x signed byte pairs summed into int16 (VPMADDUBSW), which saturates: the
model computes something else than on the machine it was built on, fails its self-test there, or worse,
gives other verdicts. Unsigned weights and activations take ONNX Runtime's U8U8 kernels, which widen to
16 bits before multiplying and cannot saturate. Shifting every int8 tensor and zero point by +128 keeps
every real value exactly, so the model's outputs do not change. New builds convert this way before
packaging; this command converts a package built before that, without retraining.

Run: python -m models.training.onnx_unsigned models/surface-inspection-onnx/1.0.0
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

import numpy as np

from edge_agent.contracts import Manifest
from edge_agent.packages import MANIFEST, MODEL_CARD, SELFTEST
from edge_agent.signing import load_private_key
from models.training.package import DEV_KEY, TrainedModel, write_package

log = logging.getLogger(__name__)


def to_unsigned(model_bytes: bytes) -> bytes:
    """Every int8 initializer a Quantize/DequantizeLinear reads (weights and zero points) as uint8 + 128.

    (q - z) * s is unchanged when q and z both move by 128, so this is exact; a QuantizeLinear whose zero
    point becomes uint8 outputs uint8, so activations follow."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(model_bytes)
    inits = {init.name: init for init in model.graph.initializer}
    names = set()
    for node in model.graph.node:
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear"):
            continue
        if len(node.input) > 2:
            names.add(node.input[2])
        if node.op_type == "DequantizeLinear":
            names.add(node.input[0])  # a stored (weight) tensor when it is an initializer
    changed = 0
    for name in sorted(names & set(inits)):
        values = numpy_helper.to_array(inits[name])
        if values.dtype == np.int8:
            shifted = (values.astype(np.int16) + 128).astype(np.uint8)
            inits[name].CopyFrom(numpy_helper.from_array(shifted, name))
            changed += 1
    if changed == 0:
        raise ValueError("no int8 tensors feed a Quantize/DequantizeLinear: not a signed int8 QDQ model")
    log.info("stored %d int8 tensors as uint8", changed)
    return model.SerializeToString()


def check_portable(model_bytes: bytes, inputs: np.ndarray, tolerance: float = 0.02) -> float:
    """Max difference between ONNX Runtime's fused int8 kernels on this CPU and the plain QDQ reference
    (no graph optimizations); raises when they disagree, so no CPU-specific model is ever packaged."""
    import onnxruntime as ort

    outputs = []
    for level in (ort.GraphOptimizationLevel.ORT_DISABLE_ALL, ort.GraphOptimizationLevel.ORT_ENABLE_ALL):
        options = ort.SessionOptions()
        options.graph_optimization_level = level
        session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
        outputs.append(session.run(None, {session.get_inputs()[0].name: inputs})[0])
    worst = float(np.max(np.abs(outputs[0] - outputs[1])))
    if worst > tolerance:
        raise RuntimeError(
            f"the int8 ONNX model gives {worst:.3f} different outputs with ONNX Runtime's optimized kernels on "
            "this CPU than its QDQ reference: it would behave differently on other CPUs"
        )
    return worst


def _card_sections(card: str) -> str:
    """The hand-written part of a model card: between the metrics table and the data recipe."""
    body = card.split("## Held-out metrics", 1)[1].split("## Data recipe", 1)[0]
    lines = body.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("## "))
    return "\n".join(lines[start:]).strip()


def convert_package(package_dir: Path, out_root: Path, key_path: Path = DEV_KEY) -> Path:
    """Write NAME/VERSION under out_root: the package with uint8 tensors, a new self-test, re-signed."""
    manifest = Manifest.model_validate_json((package_dir / MANIFEST).read_text())
    if manifest.runtime != "onnx":
        raise ValueError(f"{package_dir}: runtime {manifest.runtime}; only ONNX packages are converted")
    model_bytes = to_unsigned((package_dir / manifest.file).read_bytes())
    with np.load(package_dir / SELFTEST) as data:
        inputs, labels = data["inputs"], [str(label) for label in data["labels"]]
    worst = check_portable(model_bytes, inputs)
    note = (
        "## Stored as uint8 (U8U8)\n\n"
        "The first build stored signed int8 tensors, which saturate ONNX Runtime's int8 kernels on x86 CPUs "
        "without VNNI (AVX2). `python -m models.training.onnx_unsigned` shifted every int8 tensor and zero "
        "point by +128: the same real values, computed by the U8U8 kernels. ONNX Runtime's fused kernels and "
        f"the plain QDQ reference differ by at most {worst:.4f} on the self-test set on the converting machine."
    )
    training = {**manifest.training, "tensor_types": "uint8 activations and per-channel weights (U8U8)"}
    trained = TrainedModel(
        name=manifest.name,
        version=manifest.version,
        task=manifest.task,
        runtime=manifest.runtime,
        file_name=manifest.file,
        model_bytes=model_bytes,
        input=manifest.input,
        output=manifest.output,
        thresholds=manifest.thresholds,
        description=manifest.description,
        training=training,
        selftest_inputs=inputs,
        selftest_labels=labels,
        card_markdown=note + "\n\n" + _card_sections((package_dir / MODEL_CARD).read_text()),
    )
    return write_package(trained, out_root, load_private_key(key_path), min_agent_version=manifest.min_agent_version)


def main(argv: list[str] | None = None) -> int:
    """Convert one package in place."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("package", type=Path, help="NAME/VERSION directory of an int8 ONNX package")
    parser.add_argument("--key", type=Path, default=DEV_KEY, help="signing key (default: the development key)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    package = args.package.resolve()
    with tempfile.TemporaryDirectory(dir=package.parent) as tmp:
        staged = convert_package(package, Path(tmp), args.key)
        for item in staged.iterdir():
            item.replace(package / item.name)
    print(f"converted {package} to uint8 tensors")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

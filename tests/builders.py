"""Test helpers that build small real model packages (ONNX graphs made with onnx.helper)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edge_agent.contracts import BearingFeaturesStep, InputSpec, OutputSpec, OutputTensor, Thresholds
from edge_agent.signing import load_private_key
from models.training.package import DEV_KEY, TrainedModel, write_package

REPO = Path(__file__).resolve().parents[1]
DEV_PUBLIC_KEY = REPO / "models" / "keys" / "dev-signing.pub"
LABELS = ["healthy", "outer_race", "inner_race"]
N_FEATURES = 4


def tiny_onnx(weights: np.ndarray | None = None, emit_nan: bool = False) -> bytes:
    """A linear softmax classifier over 4 features plus an anomaly score (sum of squares)."""
    rng = np.random.default_rng(0)
    w = weights if weights is not None else rng.normal(size=(N_FEATURES, len(LABELS))).astype(np.float32)
    inits = [numpy_helper.from_array(w.astype(np.float32), "W"), numpy_helper.from_array(np.zeros(3, np.float32), "B")]
    nodes = [
        helper.make_node("MatMul", ["features", "W"], ["logits0"]),
        helper.make_node("Add", ["logits0", "B"], ["logits"]),
    ]
    if emit_nan:
        inits.append(numpy_helper.from_array(np.array([np.nan], np.float32), "NAN"))
        nodes.append(helper.make_node("Mul", ["logits", "NAN"], ["logits_nan"]))
        nodes.append(helper.make_node("Softmax", ["logits_nan"], ["probabilities"], axis=1))
    else:
        nodes.append(helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1))
    nodes.append(helper.make_node("Mul", ["features", "features"], ["squares"]))
    inits.append(numpy_helper.from_array(np.array([1], np.int64), "AXES"))
    nodes.append(helper.make_node("ReduceSum", ["squares", "AXES"], ["anomaly_score"], keepdims=1))
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", N_FEATURES])],
        [
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", len(LABELS)]),
            helper.make_tensor_value_info("anomaly_score", TensorProto.FLOAT, ["N", 1]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def tiny_trained(version: str = "1.0.0", model_bytes: bytes | None = None) -> TrainedModel:
    """A TrainedModel for the tiny classifier, ready for write_package."""
    step = BearingFeaturesStep(feature_names=[f"f{i}" for i in range(N_FEATURES)], envelope_band_hz=(1000, 4000))
    return TrainedModel(
        name="tiny-health",
        version=version,
        task="predictive_maintenance",
        runtime="onnx",
        file_name="model.onnx",
        model_bytes=model_bytes if model_bytes is not None else tiny_onnx(),
        input=InputSpec(name="features", shape=[-1, N_FEATURES], dtype="float32", layout="NF", preprocessing=[step]),
        output=OutputSpec(
            tensors=[
                OutputTensor(name="probabilities", shape=[-1, 3], dtype="float32", meaning="class_probabilities"),
                OutputTensor(name="anomaly_score", shape=[-1, 1], dtype="float32", meaning="anomaly_score"),
            ],
            labels=LABELS,
            negative_label="healthy",
        ),
        thresholds=Thresholds(anomaly=10.0),
        description="tiny test model",
        training={"metrics": {"accuracy": 1.0}},
        selftest_inputs=np.random.default_rng(1).normal(size=(8, N_FEATURES)).astype(np.float32),
        selftest_labels=["healthy"] * 8,
    )


def build_tiny_package(root: Path, version: str = "1.0.0", model_bytes: bytes | None = None) -> Path:
    """Write and sign (dev key) a tiny package under root; returns NAME/VERSION."""
    return write_package(tiny_trained(version, model_bytes), root, load_private_key(DEV_KEY), on_change="replace")


def resign(package: Path, edit: dict | None = None, raw: bytes | None = None) -> None:
    """Rewrite manifest.json (merged with `edit`, or replaced by `raw`) and sign it with the dev key."""
    manifest_path = package / "manifest.json"
    if raw is None:
        document = json.loads(manifest_path.read_text())
        for key, value in (edit or {}).items():
            target = document
            *parents, leaf = key.split(".")
            for part in parents:
                target = target[part]
            target[leaf] = value
        raw = json.dumps(document, indent=2).encode()
    manifest_path.write_bytes(raw)
    (package / "manifest.sig").write_bytes(load_private_key(DEV_KEY).sign(raw))


def copy_package(src: Path, dst: Path) -> Path:
    """A private copy of a package a test may damage."""
    shutil.copytree(src, dst)
    return dst


def package_tar(package: Path) -> bytes:
    """The package as cloud-sync serves it: an uncompressed tar of NAME/VERSION/."""
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(package, arcname=f"{package.parent.name}/{package.name}")
    return buffer.getvalue()


def inspection_result(
    i: int, verdict: str = "ok", margin: float = 0.9, model: str = "surface-inspection", version: str = "1.0.0"
) -> dict[str, Any]:
    """An inspection result document as a worker hands it to the service (part P{i}, ng parts called scratch)."""
    return {
        "ts_ms": 1000 + i,
        "part_id": f"P{i}",
        "verdict": verdict,
        "label": "ok" if verdict == "ok" else "scratch",
        "scores": {"ok": 0.9},
        "margin": margin,
        "model": {"name": model, "version": version, "sha256": "x"},
    }

"""Load a verified package fully (runtime, tensor checks, self-test) before anyone may use it."""

from __future__ import annotations

import logging
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_agent.contracts import Manifest
from edge_agent.errors import EdgeAgentError, IncompatibleModelError, SelfTestError
from edge_agent.packages import ModelPackage, verify_package
from edge_agent.runtimes import InferenceRuntime, RuntimeOptions, TensorInfo, create_runtime
from edge_agent.signing import TrustedKeys
from edge_agent.tensors import dequantize

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    """A package whose runtime loaded, matched its manifest and passed its self-test."""

    package: ModelPackage
    runtime: InferenceRuntime
    selftest_ms: float

    @property
    def manifest(self) -> Manifest:
        """The package's manifest."""
        return self.package.manifest

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        """Real-valued outputs (dequantized per the manifest) for a batch of model inputs."""
        raw = self.runtime.run(batch)
        return [dequantize(out, spec.quantization) for out, spec in zip(raw, self.manifest.output.tensors)]


def _dims_match(declared: list[int], actual: tuple[int, ...]) -> bool:
    return len(declared) == len(actual) and all(d == a or -1 in (d, a) for d, a in zip(declared, actual))


def check_tensors(manifest: Manifest, runtime: InferenceRuntime, origin: str) -> None:
    """Refuse a manifest whose declared tensors differ from the model's real ones."""
    actual_in: TensorInfo = runtime.inputs[0]
    spec = manifest.input
    if actual_in.dtype != spec.dtype or not _dims_match(spec.shape, actual_in.shape):
        raise IncompatibleModelError(
            f"{origin}: manifest declares input {spec.dtype}{spec.shape}; model has "
            f"{actual_in.dtype}{list(actual_in.shape)}"
        )
    if (
        spec.quantization is not None
        and actual_in.scale is not None
        and (
            not np.isclose(spec.quantization.scale, actual_in.scale, rtol=1e-4)
            or spec.quantization.zero_point != actual_in.zero_point
        )
    ):
        raise IncompatibleModelError(f"{origin}: manifest input quantization differs from the model's")
    if len(runtime.outputs) != len(manifest.output.tensors):
        raise IncompatibleModelError(
            f"{origin}: manifest declares {len(manifest.output.tensors)} outputs; model has {len(runtime.outputs)}"
        )
    for declared, actual in zip(manifest.output.tensors, runtime.outputs):
        if declared.dtype != actual.dtype or not _dims_match(declared.shape, actual.shape):
            raise IncompatibleModelError(
                f"{origin}: manifest declares output {declared.name} {declared.dtype}{declared.shape}; "
                f"model has {actual.dtype}{list(actual.shape)}"
            )
    probs = manifest.tensor_for("class_probabilities")
    if probs is not None and probs[1].shape[-1] != len(manifest.output.labels):
        raise IncompatibleModelError(
            f"{origin}: {len(manifest.output.labels)} labels but {probs[1].shape[-1]} class scores"
        )


def run_selftest(model: LoadedModel) -> None:
    """Compare the model's outputs on selftest.npz with the expected ones; raise SelfTestError."""
    path = model.package.selftest_path
    try:
        with np.load(path, allow_pickle=False) as data:
            inputs = data["inputs"]
            expected = [data[f"expected_{i}"] for i in range(len(model.manifest.output.tensors))]
            atol = [float(data[f"atol_{i}"]) for i in range(len(expected))]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise SelfTestError(f"{path}: unreadable self-test data ({exc})") from exc
    try:
        outputs = model.run(inputs)
    except EdgeAgentError as exc:
        raise SelfTestError(f"{model.package.ident}: self-test inference failed ({exc})") from exc
    for index, (got, want, tol) in enumerate(zip(outputs, expected, atol)):
        if got.shape != want.shape:
            raise SelfTestError(f"{model.package.ident}: output {index} shape {got.shape}, expected {want.shape}")
        if not np.all(np.isfinite(got)):
            raise SelfTestError(f"{model.package.ident}: output {index} has NaN or infinite values")
        worst = float(np.max(np.abs(got - want)))
        if worst > tol:
            raise SelfTestError(
                f"{model.package.ident}: output {index} differs from expected by {worst:.4g} (tolerance {tol:.4g})"
            )


def load_model(root: Path, trusted: TrustedKeys, options: RuntimeOptions | None = None) -> LoadedModel:
    """Verify, load, check and self-test a package; only a fully working model is returned."""
    package = verify_package(root, trusted)
    runtime = create_runtime(package.manifest.runtime, package.model_path, options or RuntimeOptions())
    try:
        check_tensors(package.manifest, runtime, str(package.root))
        started = time.perf_counter()
        model = LoadedModel(package=package, runtime=runtime, selftest_ms=0.0)
        run_selftest(model)
        model = LoadedModel(package, runtime, (time.perf_counter() - started) * 1000)
    except BaseException:
        runtime.close()
        raise
    log.info("loaded %s (%s, self-test %.0f ms)", package.ident, package.manifest.runtime, model.selftest_ms)
    return model

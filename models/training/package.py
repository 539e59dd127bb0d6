"""Turn a trained model into a signed model package (DESIGN.md section 5)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge_agent.contracts import InputSpec, Manifest, OutputSpec, RuntimeKind, Task, Thresholds, semver_key
from edge_agent.loading import load_model
from edge_agent.packages import MANIFEST, MODEL_CARD, SELFTEST, SIGNATURE
from edge_agent.runtimes import InferenceRuntime, RuntimeOptions, create_runtime
from edge_agent.signing import TrustedKeys, key_id
from edge_agent.tensors import dequantize

log = logging.getLogger(__name__)


@dataclass
class TrainedModel:
    """Everything a trainer hands over to the packager."""

    name: str
    version: str
    task: Task
    runtime: RuntimeKind
    file_name: str
    model_bytes: bytes
    input: InputSpec
    output: OutputSpec
    thresholds: Thresholds
    description: str
    # data recipe, held-out metrics (floats or nested dicts), confusion matrix as list of lists
    training: dict[str, Any]
    # preprocessed model inputs (batch axis first, model dtype) for selftest.npz, 16-64 items
    selftest_inputs: np.ndarray
    # the true class label of each selftest input
    selftest_labels: list[str]
    # extra markdown appended to MODEL_CARD.md (architecture, recipe, confusion matrix)
    card_markdown: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


DEV_KEY = Path(__file__).resolve().parents[1] / "keys" / "dev-signing.key"


def _expected_tolerance(meaning: str, expected: np.ndarray, quant_scale: float | None) -> float:
    if quant_scale is not None:
        return 2.0 * quant_scale + 1e-6
    if meaning == "class_probabilities":
        # int8 kernels differ slightly between CPUs (AVX2, VNNI, NEON); a broken model is far off.
        return 0.02
    return 1e-3 * max(1.0, float(np.max(np.abs(expected))))


def _latency_ms(runtime: InferenceRuntime, item: np.ndarray, repeats: int = 50) -> dict[str, float]:
    batch = item[None]
    runtime.run(batch)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        runtime.run(batch)
        times.append((time.perf_counter() - started) * 1000)
    return {"p50": round(float(np.percentile(times, 50)), 3), "p99": round(float(np.percentile(times, 99)), 3)}


def _metrics_markdown(metrics: dict[str, Any], prefix: str = "") -> list[str]:
    lines = []
    for key, value in metrics.items():
        if isinstance(value, dict):
            lines.extend(_metrics_markdown(value, f"{prefix}{key}."))
        elif isinstance(value, (int, float, str, bool)):
            lines.append(f"| {prefix}{key} | {value} |")
    return lines


def _model_card(manifest: Manifest, trained: TrainedModel, latency: dict[str, float]) -> str:
    metrics = trained.training.get("metrics", {})
    lines = [
        f"# {manifest.name} {manifest.version}",
        "",
        manifest.description,
        "",
        "| field | value |",
        "|---|---|",
        f"| task | {manifest.task} |",
        f"| runtime | {manifest.runtime} |",
        f"| file | {manifest.file} ({manifest.size} bytes) |",
        f"| sha256 | `{manifest.sha256}` |",
        f"| input | {manifest.input.dtype} {manifest.input.shape} {manifest.input.layout} |",
        f"| labels | {', '.join(manifest.output.labels)} |",
        f"| thresholds | {manifest.thresholds.model_dump(exclude_none=True)} |",
        f"| min agent version | {manifest.min_agent_version} |",
        f"| latency, 1 item, 1 thread, build machine | p50 {latency['p50']} ms, p99 {latency['p99']} ms |",
        "",
        "## Held-out metrics",
        "",
        "| metric | value |",
        "|---|---|",
        *_metrics_markdown(metrics),
        "",
        trained.card_markdown,
        "",
        "## Data recipe",
        "",
        "```json",
        json.dumps(trained.training.get("data_recipe", {}), indent=2, default=str),
        "```",
        "",
    ]
    return "\n".join(lines)


def _sign_and_check(root: Path, manifest: Manifest, signing_key: Ed25519PrivateKey) -> None:
    """Write and sign the manifest; the package must then pass exactly the checks a gateway runs."""
    manifest_bytes = (json.dumps(manifest.model_dump(mode="json"), indent=2) + "\n").encode()
    (root / MANIFEST).write_bytes(manifest_bytes)
    (root / SIGNATURE).write_bytes(signing_key.sign(manifest_bytes))
    loaded = load_model(root, TrustedKeys({key_id(signing_key.public_key()): signing_key.public_key()}))
    loaded.runtime.close()


class PackageVersionError(ValueError):
    """NAME/VERSION already holds a package with other model bytes, and the caller asked not to replace it."""


def _identity(manifest: dict[str, Any]) -> tuple[Any, ...]:
    """What makes two packages the same model: its bytes and how the gateway reads and judges them."""
    return (manifest.get("sha256"), manifest.get("input"), manifest.get("output"), manifest.get("thresholds"))


def _same_package(root: Path, trained: TrainedModel) -> bool | None:
    """None when root holds no package, else whether it holds this model."""
    try:
        existing = json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    wanted = {
        "sha256": hashlib.sha256(trained.model_bytes).hexdigest(),
        "input": trained.input.model_dump(mode="json"),
        "output": trained.output.model_dump(mode="json"),
        "thresholds": trained.thresholds.model_dump(mode="json"),
    }
    return _identity(existing) == _identity(wanted)


def _next_free_patch(base: Path, trained: TrainedModel) -> str:
    """The first patch version after trained.version that is free or already holds this very model."""
    major, minor, patch = (int(part) for part in trained.version.split("-")[0].split(".")[:3])
    while True:
        patch += 1
        candidate = f"{major}.{minor}.{patch}"
        if _same_package(base / candidate, trained) is not False:
            return candidate


def write_package(
    trained: TrainedModel,
    out_root: Path,
    signing_key: Ed25519PrivateKey,
    created: str | None = None,
    min_agent_version: str = "0.1.0",
    on_change: Literal["bump", "refuse", "replace"] = "refuse",
) -> Path:
    """Write NAME/VERSION/ with model, manifest, signature, self-test and model card; return its path.

    The package is built and verified in a hidden NAME/.VERSION.partial-PID directory and renamed into place, so
    an interrupted build leaves no half-written package. When NAME/VERSION already holds other model bytes,
    `on_change` decides: "bump" writes the next free patch version (a package whose bytes change gets a new
    version), "refuse" raises PackageVersionError, "replace" overwrites (test fixtures only).
    """
    semver_key(trained.version)  # a clear error before any training result is written
    base = out_root / trained.name
    for stale in [*base.glob(".*.partial-*"), *base.glob(".*.old-*")]:  # left by an interrupted build
        shutil.rmtree(stale, ignore_errors=True)
    if _same_package(base / trained.version, trained) is False:
        if on_change == "refuse":
            raise PackageVersionError(
                f"{base / trained.version} holds other model bytes; give the new model a new version"
            )
        if on_change == "bump":
            bumped = _next_free_patch(base, trained)
            log.warning("%s %s holds other model bytes: writing %s", trained.name, trained.version, bumped)
            trained = dataclasses.replace(trained, version=bumped)
    final = base / trained.version
    root = base / f".{trained.version}.partial-{os.getpid()}"
    root.mkdir(parents=True)
    try:
        _write_contents(trained, root, signing_key, created, min_agent_version)
        if final.exists():  # the same model again, or an explicit replace
            aside = base / f".{trained.version}.old-{os.getpid()}"
            os.replace(final, aside)
            os.replace(root, final)
            shutil.rmtree(aside)
        else:
            os.replace(root, final)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    log.info("wrote %s", final)
    return final


def _write_contents(
    trained: TrainedModel, root: Path, signing_key: Ed25519PrivateKey, created: str | None, min_agent_version: str
) -> None:
    model_path = root / trained.file_name
    model_path.write_bytes(trained.model_bytes)

    runtime = create_runtime(trained.runtime, model_path, RuntimeOptions(num_threads=1))
    raw_outputs = runtime.run(trained.selftest_inputs)
    expected = [dequantize(out, spec.quantization) for out, spec in zip(raw_outputs, trained.output.tensors)]
    latency = _latency_ms(runtime, trained.selftest_inputs[0])
    runtime.close()
    arrays: dict[str, np.ndarray] = {
        "inputs": trained.selftest_inputs,
        "labels": np.asarray(trained.selftest_labels, dtype="<U32"),
    }
    for index, (values, spec) in enumerate(zip(expected, trained.output.tensors)):
        scale = spec.quantization.scale if spec.quantization else None
        arrays[f"expected_{index}"] = values
        arrays[f"atol_{index}"] = np.asarray(_expected_tolerance(spec.meaning, values, scale), dtype=np.float32)
    np.savez_compressed(root / SELFTEST, **arrays)  # type: ignore[arg-type]

    training = dict(trained.training)
    training["latency_ms_build_machine"] = latency
    manifest = Manifest(
        name=trained.name,
        version=trained.version,
        task=trained.task,
        runtime=trained.runtime,
        file=trained.file_name,
        sha256=hashlib.sha256(trained.model_bytes).hexdigest(),
        size=len(trained.model_bytes),
        input=trained.input,
        output=trained.output,
        thresholds=trained.thresholds,
        min_agent_version=min_agent_version,
        created=created or datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        description=trained.description,
        training=training,
        files={SELFTEST: hashlib.sha256((root / SELFTEST).read_bytes()).hexdigest()},
    )
    card = _model_card(manifest, trained, latency)
    (root / MODEL_CARD).write_text(card)
    files = {**manifest.files, MODEL_CARD: hashlib.sha256(card.encode()).hexdigest()}
    manifest = manifest.model_copy(update={"files": files})
    _sign_and_check(root, manifest, signing_key)


EVALUATION_HEADING = "## Gateway-path evaluation"


def record_evaluation(package_dir: Path, markdown: str, signing_key: Ed25519PrivateKey) -> None:
    """Put (or replace) the gateway-path evaluation section of a package's model card, then update the
    card's sha256 in the manifest and sign it again; the package must still load as a gateway loads it."""
    manifest = Manifest.model_validate_json((package_dir / MANIFEST).read_bytes())
    card = (package_dir / MODEL_CARD).read_text()
    if EVALUATION_HEADING in card:
        before, after = card.split(EVALUATION_HEADING, 1)
        rest = after.split("\n## ", 1)
        card = before + ("## " + rest[1] if len(rest) > 1 else "")
    card = card.rstrip("\n") + "\n\n" + markdown.strip() + "\n"
    (package_dir / MODEL_CARD).write_text(card)
    files = {**manifest.files, MODEL_CARD: hashlib.sha256(card.encode()).hexdigest()}
    _sign_and_check(package_dir, manifest.model_copy(update={"files": files}), signing_key)

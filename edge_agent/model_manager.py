"""Holds the active pipeline per model name; a new one is loaded fully off the hot path, then swapped in."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from edge_agent.contracts import semver_key
from edge_agent.errors import ModelPackageError
from edge_agent.loading import LoadedModel
from edge_agent.packages import MANIFEST

log = logging.getLogger(__name__)
CURRENT_LINK = "current"


class ModelPipeline(Protocol):
    """What the manager needs of a pipeline: the model it wraps."""

    model: LoadedModel


def active_package_dir(models_dir: Path, name: str) -> Path:
    """NAME/current when that pointer exists, else the highest NAME/VERSION holding a manifest."""
    base = models_dir / name
    pointer = base / CURRENT_LINK
    if pointer.exists():
        return pointer.resolve()
    versions = []
    for child in base.glob("*/"):
        if (child / MANIFEST).is_file():
            try:
                versions.append((semver_key(child.name), child))
            except ValueError:
                continue
    if not versions:
        raise ModelPackageError(f"{base}: no installed version of model {name!r}")
    return max(versions, key=lambda v: v[0])[1]


class ModelManager:
    """Name -> active pipeline; readers get a complete pipeline or the previous one, never half of one."""

    def __init__(self, models_dir: Path, build: Callable[[Path], ModelPipeline]) -> None:
        self.models_dir = models_dir
        self._build = build
        self._active: dict[str, ModelPipeline] = {}
        self._lock = threading.Lock()

    def build(self, package_dir: Path) -> ModelPipeline:
        """Load (verify, self-test) a package into a pipeline without making it active."""
        return self._build(package_dir)

    def load(self, name: str, package_dir: Path | None = None) -> ModelPipeline:
        """Load (verify, self-test) a package and make it the active pipeline for its name."""
        pipeline = self._build(package_dir or active_package_dir(self.models_dir, name))
        if pipeline.model.manifest.name != name:
            raise ModelPackageError(
                f"package {pipeline.model.package.root} is model {pipeline.model.manifest.name!r}, not {name!r}"
            )
        self.swap(name, pipeline)
        return pipeline

    def swap(self, name: str, pipeline: ModelPipeline) -> ModelPipeline | None:
        """Publish a ready pipeline; workers pick it up at their next item."""
        with self._lock:
            previous = self._active.get(name)
            self._active[name] = pipeline
        log.info("model %s is now %s", name, pipeline.model.package.ident)
        return previous

    def get(self, name: str) -> ModelPipeline | None:
        """The active pipeline for a model name, if loaded."""
        return self._active.get(name)

    def names(self) -> list[str]:
        """Names of loaded models."""
        return sorted(self._active)

    def describe(self) -> list[dict[str, Any]]:
        """Name, version, runtime, sha256 and self-test time of every active model."""
        out = []
        for name, pipeline in sorted(self._active.items()):
            manifest = pipeline.model.manifest
            out.append(
                {
                    "name": name,
                    "version": manifest.version,
                    "task": manifest.task,
                    "runtime": manifest.runtime,
                    "sha256": manifest.sha256,
                    "signed_by": pipeline.model.package.signed_by,
                    "selftest_ms": round(pipeline.model.selftest_ms, 1),
                }
            )
        return out

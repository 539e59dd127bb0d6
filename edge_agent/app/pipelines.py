"""A verified, self-tested package wrapped in the pipeline of its task (inspection or maintenance)."""

from __future__ import annotations

from pathlib import Path

from edge_agent.errors import ModelPackageError
from edge_agent.loading import load_model
from edge_agent.pipelines.inspection import QualityInspector
from edge_agent.pipelines.maintenance import HealthMonitor
from edge_agent.runtimes import RuntimeOptions
from edge_agent.signing import TrustedKeys

Pipeline = QualityInspector | HealthMonitor


def build_pipeline(package_dir: Path, trusted_keys: list[Path], threads: int = 1, parallel: int = 1) -> Pipeline:
    """Verify, load and self-test a package, then wrap it in the pipeline for its task (`parallel` inferences at
    once, each on `threads` threads)."""
    options = RuntimeOptions(num_threads=threads, parallel=parallel)
    return _pipeline_for(package_dir, TrustedKeys.from_paths(trusted_keys), options)


def _pipeline_for(package_dir: Path, trusted: TrustedKeys, options: RuntimeOptions) -> Pipeline:
    model = load_model(package_dir, trusted, options)
    if model.manifest.task == "cycle_time":
        # the line engine runs it from models.dir (OTA installs it there when line.cycles names it): no pipeline
        model.runtime.close()
        raise ModelPackageError(f"{model.package.ident} is a cycle-time model: the line engine runs it, not a pipeline")
    if model.manifest.task == "quality_inspection":
        return QualityInspector(model)
    return HealthMonitor(model)

"""Models another part of the agent runs from models.dir itself (the line engine's cycle-time model)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from edge_agent.contracts import Manifest
from edge_agent.errors import ModelPackageError
from edge_agent.loading import load_model
from edge_agent.model_manager import active_package_dir
from edge_agent.ota.install import point_to
from edge_agent.packages import MANIFEST
from edge_agent.signing import TrustedKeys

log = logging.getLogger(__name__)
# why the OTA states of such a model skip the trials of the inference pipelines (reported with the state)
NO_SHADOW = "shadow evaluation skipped: the line engine runs this model on line cycles, not on sampled inference inputs"
NO_PROBATION = "probation skipped: no inference counts to watch; the line engine follows the current pointer"


class DiskModels:
    """Names whose packages the updater verifies, self-tests and points at, but never loads into the model manager."""

    def __init__(self, models_dir: Path, tasks: Mapping[str, str], trusted: TrustedKeys) -> None:
        self.models_dir = models_dir
        self.tasks = dict(tasks)
        self.trusted = trusted

    def __contains__(self, name: object) -> bool:
        return name in self.tasks

    def names(self) -> list[str]:
        """The model names handled here."""
        return sorted(self.tasks)

    def active(self, name: str) -> Manifest | None:
        """The manifest of the version NAME/current names (the highest installed without one); None when none."""
        try:
            package = active_package_dir(self.models_dir, name)
        except ModelPackageError:
            return None
        try:
            return Manifest.model_validate_json((package / MANIFEST).read_bytes())
        except (OSError, ValueError) as exc:  # a broken active package must not block its replacement
            log.warning("%s: unreadable active manifest (%s); any newer signed version may replace it", package, exc)
            return None

    def selftest(self, package_dir: Path) -> None:
        """Verify, load and self-test a package with its runtime as its consumer will, then release the runtime."""
        model = load_model(package_dir, self.trusted)
        model.runtime.close()
        manifest = model.manifest
        wanted = self.tasks.get(manifest.name)
        if manifest.task != wanted:
            raise ModelPackageError(
                f"{model.package.ident} is a {manifest.task} model; {manifest.name} must be {wanted}"
            )

    def activate(self, package_dir: Path) -> None:
        """Self-test an installed NAME/VERSION, then make it current (the version it replaces becomes previous)."""
        self.selftest(package_dir)
        point_to(self.models_dir, package_dir.parent.name, package_dir.name)

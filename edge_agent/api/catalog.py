"""Which pipeline answers a (model, version): the manager's active one, or a pinned older installed version."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import Any

from edge_agent.api.tensors import ApiError, Status
from edge_agent.contracts import semver_key
from edge_agent.errors import EdgeAgentError
from edge_agent.model_manager import ModelManager, active_package_dir
from edge_agent.packages import MANIFEST
from edge_agent.pipelines.inspection import QualityInspector
from edge_agent.pipelines.maintenance import HealthMonitor

log = logging.getLogger(__name__)
Pipeline = QualityInspector | HealthMonitor


class ModelCatalog:
    """Serves what MQTT serves: the manager's active pipeline, read once per request (a swap is seen by the next)."""

    def __init__(self, manager: ModelManager, pinned_max: int) -> None:
        self._manager = manager
        self._pinned: OrderedDict[tuple[str, str], Pipeline] = OrderedDict()
        self._pinned_max = pinned_max
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        """The models the agent serves (those its config uses)."""
        return self._manager.names()

    def active(self, name: str) -> Pipeline:
        """The active, verified pipeline of a model; NOT_FOUND for models the agent does not serve."""
        pipeline = self._manager.get(name)
        if not isinstance(pipeline, (QualityInspector, HealthMonitor)):
            raise ApiError(Status.NOT_FOUND, f"unknown model {name!r}; this gateway serves {', '.join(self.names())}")
        return pipeline

    def resolve(self, name: str, version: str) -> Pipeline:
        """The pipeline for a request: the active one, or an older installed version loaded and self-tested."""
        active = self.active(name)
        if not version or version == active.model.manifest.version:
            return active
        if version not in self.installed_versions(name):
            raise ApiError(Status.NOT_FOUND, f"model {name!r} has no installed version {version!r}")
        key = (name, version)
        with self._lock:  # one load per version; others wait for it rather than load it twice
            pipeline = self._pinned.get(key)
            if pipeline is None:
                pipeline = self._load(name, version)
                self._pinned[key] = pipeline
                while len(self._pinned) > self._pinned_max:
                    self._pinned.popitem(last=False)
            self._pinned.move_to_end(key)
        return pipeline

    def _load(self, name: str, version: str) -> Pipeline:
        try:
            pipeline = self._manager.build(self._manager.models_dir / name / version)
        except EdgeAgentError as exc:
            raise ApiError(Status.NOT_FOUND, f"model {name!r} version {version!r} cannot be served: {exc}") from exc
        if not isinstance(pipeline, (QualityInspector, HealthMonitor)) or pipeline.model.manifest.name != name:
            raise ApiError(Status.NOT_FOUND, f"{name}/{version} does not hold model {name!r}")
        log.info("serving pinned %s on request", pipeline.model.package.ident)
        return pipeline

    def installed_versions(self, name: str) -> list[str]:
        """Versions of a model installed on disk, oldest first."""
        base = self._manager.models_dir / name
        versions = []
        for child in base.glob("*/"):
            if child.is_symlink() or not (child / MANIFEST).is_file():
                continue
            try:
                versions.append((semver_key(child.name), child.name))
            except ValueError:
                continue
        return [v for _, v in sorted(versions)]

    def index(self) -> list[dict[str, Any]]:
        """Every installed package of the served models; the active one is READY and marked active."""
        rows = []
        for name in self.names():
            active = self.active(name).model.manifest.version
            try:
                on_disk = active_package_dir(self._manager.models_dir, name).name
            except EdgeAgentError:
                on_disk = None
            with self._lock:
                pinned = {v for n, v in self._pinned if n == name}
            for version in self.installed_versions(name):
                loaded = version == active or version in pinned
                rows.append(
                    {
                        "name": name,
                        "version": version,
                        "state": "READY" if loaded else "UNAVAILABLE",
                        "reason": "" if loaded else "installed; loaded when a request names it",
                        "active": version == active,
                        "pointer": version == on_disk,
                    }
                )
        return rows

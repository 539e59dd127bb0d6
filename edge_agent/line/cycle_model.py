"""The active cycle-time model package: features per its manifest, expected cycle and bounds from ONNX Runtime."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_agent.contracts import CycleFeaturesStep
from edge_agent.errors import EdgeAgentError, ModelPackageError
from edge_agent.line.cycles import Cycle
from edge_agent.loading import LoadedModel, load_model
from edge_agent.model_manager import active_package_dir
from edge_agent.signing import TrustedKeys

log = logging.getLogger(__name__)
FEATURES = ("unit", "product", "speed_ratio", "upstream_down")
OUTPUTS = ("expected_s", "p99_s", "p999_s", "sigma_log")
CHECK_INTERVAL_S = 5.0  # how often the package pointer is looked at (an OTA install or an operator rollback)


@dataclass(frozen=True)
class Expectation:
    """What the model expects of one cycle: the typical time, the 99% and 99.9% bounds, the log-residual sigma."""

    expected_s: float
    p99_s: float
    p999_s: float
    sigma_log: float


def cycle_step(model: LoadedModel) -> CycleFeaturesStep:
    """The package's cycle_features step; a package without one is no cycle-time model."""
    steps = [s for s in model.manifest.input.preprocessing if isinstance(s, CycleFeaturesStep)]
    if model.manifest.task != "cycle_time" or len(steps) != 1:
        raise ModelPackageError(f"{model.package.ident} is a {model.manifest.task} model, not a cycle-time model")
    return steps[0]


def features(step: CycleFeaturesStep, cycles: Sequence[Cycle]) -> tuple[np.ndarray, list[bool]]:
    """The model input rows (float32 [N, 4]) and, per cycle, whether the model knows its unit."""
    rows = np.zeros((len(cycles), len(FEATURES)), dtype=np.float32)
    known = []
    for i, cycle in enumerate(cycles):
        if cycle.unit not in step.units:
            known.append(False)
            continue
        products = step.products.get(cycle.unit, [])
        product = products.index(cycle.product) if cycle.product in products else len(products)
        nominal = step.nominal_speed.get(cycle.unit, 0.0)
        ratio = cycle.speed / nominal if cycle.speed and nominal > 0 else 1.0
        rows[i] = (step.units.index(cycle.unit), product, ratio, cycle.upstream_down)
        known.append(True)
    return rows, known


class CycleModel:
    """A loaded, self-tested cycle-time package."""

    def __init__(self, model: LoadedModel) -> None:
        self.model = model
        self.step = cycle_step(model)

    @property
    def ident(self) -> dict[str, str]:
        """name, version and sha256 (in every event it judged)."""
        manifest = self.model.manifest
        return {"name": manifest.name, "version": manifest.version, "sha256": manifest.sha256}

    def expect(self, cycles: Sequence[Cycle]) -> list[Expectation | None]:
        """One batch through the runtime; None for cycles of units the model was not trained on."""
        if not cycles:
            return []
        rows, known = features(self.step, cycles)
        out = self.model.run(rows)[0]
        return [Expectation(*(float(v) for v in out[i, :4])) if known[i] else None for i in range(len(cycles))]

    def close(self) -> None:
        """Release the runtime."""
        self.model.runtime.close()


class CycleModelSource:
    """Holds the active verified package of models_dir/NAME and follows its pointer; absent or broken: None."""

    def __init__(
        self,
        models_dir: Path,
        name: str,
        trusted: TrustedKeys,
        on_change: Callable[[str, str], None],
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        self.models_dir = models_dir
        self.name = name
        self.trusted = trusted
        self._on_change = on_change
        self._wall = wall
        self.current: CycleModel | None = None
        self._path: Path | None = None
        self._checked = -1e18
        self.error: str | None = None

    def get(self) -> CycleModel | None:
        """The active model, reloaded when the package the pointer names changed."""
        now = self._wall()
        if now - self._checked < CHECK_INTERVAL_S:
            return self.current
        self._checked = now
        try:
            path = active_package_dir(self.models_dir, self.name)
        except EdgeAgentError as exc:
            self._fail(str(exc))
            return self.current
        if path == self._path:
            return self.current
        self._path = path
        try:
            loaded = CycleModel(load_model(path, self.trusted))
        except EdgeAgentError as exc:  # a bad package never replaces a working one
            self._fail(f"{path}: {exc}")
            return self.current
        previous, self.current, self.error = self.current, loaded, None
        if previous is not None:
            previous.close()
        log.info("cycle-time model %s@%s active", self.name, loaded.model.manifest.version)
        self._on_change(loaded.model.manifest.version, str(path))
        return self.current

    def _fail(self, reason: str) -> None:
        if reason != self.error:
            log.error("cycle-time model %s: %s", self.name, reason)
        self.error = reason

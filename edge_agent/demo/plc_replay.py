"""Replays the simulated line straight into a line tracker and cycle monitor (no broker): training data, measurement."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edge_agent.config_line import LineConfig
from edge_agent.demo.plc_feed import line_section
from edge_agent.demo.plc_line import PlcLine
from edge_agent.demo.plc_sim import SimUnitSpec
from edge_agent.ingest.tags import TagUpdate
from edge_agent.line.cycle_model import CycleModel
from edge_agent.line.cycle_monitor import CycleMonitor
from edge_agent.line.tracker import LineTracker

NS = "factory/v1/sim/line"


@dataclass
class Replay:
    """A PlcLine fed tag by tag into a LineTracker; the monitor judges cycles every `tick_s` simulated seconds."""

    specs: tuple[SimUnitSpec, ...]
    start_ms: int
    length_s: float
    breaks_s: list[tuple[float, float]]
    model: Callable[[], CycleModel | None]
    seed: int = 13
    cycles: dict[str, Any] = field(default_factory=dict)  # line.cycles overrides
    events: list[dict[str, Any]] = field(default_factory=list)
    uploads: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.line = PlcLine(self.specs, self.start_ms, self.length_s, self.breaks_s, seed=self.seed)
        section = line_section(self.specs, None, [{"name": "day", "start": "00:00", "hours": 24}])
        self.config = LineConfig.model_validate({**section, "cycles": self.cycles})
        self._wall = self.start_ms / 1000
        self.tracker = LineTracker(self.config, emit=lambda kind, **detail: None, wall=lambda: self._wall)
        self.monitor = CycleMonitor(
            self.config,
            NS,
            self.tracker,
            self.model,
            publish_event=lambda topic, payload: None,
            upstream=self._upstream,
            wall=lambda: self._wall,
        )

    def _upstream(self, stream: str, priority: str, document: dict[str, Any]) -> None:
        if stream.startswith("cycles/"):
            self.uploads.append(document)
        elif "reason" in document:
            self.events.append(document)

    def run(self, tick_s: int = 60) -> None:
        """Step the whole length, feeding every sample; then judge what is left and upload every cycle."""
        while self.line.t < self.length_s:
            samples = self.line.advance(self.line.t + tick_s)
            self._wall = self.start_ms / 1000 + self.line.t
            for sample in samples:
                self.tracker.tag(TagUpdate(sample.unit, sample.tag, sample.value, sample.ts_ms))
            self.monitor.tick()
        self._wall += 3600  # every waiting cycle has waited long enough
        self.monitor.tick()
        self.monitor.flush()

    def rows(self) -> dict[str, list[list[Any]]]:
        """Uploaded cycle rows per unit (CYCLE_COLUMNS), as cloud-sync receives them."""
        out: dict[str, list[list[Any]]] = {}
        for document in self.uploads:
            out.setdefault(document["unit"], []).extend(document["cycles"])
        return out

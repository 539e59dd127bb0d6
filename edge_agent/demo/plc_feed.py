"""Feeds the simulated PLCs' samples to the plant: plain MQTT tags for some units, an OPC UA server for others."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Collection
from typing import Any

from edge_agent.demo.opcua_plc import OpcUaPlc
from edge_agent.demo.plc_line import PlcLine, Sample
from edge_agent.demo.plc_sim import PLC_CODES, SimUnitSpec

log = logging.getLogger(__name__)
PublishMqtt = Callable[[str, bytes], object]


def line_section(
    specs: tuple[SimUnitSpec, ...], plc: OpcUaPlc | None, shifts: list[dict[str, Any]], **knobs: Any
) -> dict[str, Any]:
    """The agent's line: config for the simulated units (OPC UA ones read through plc, the rest over MQTT)."""
    units = []
    for spec in specs:
        on_opcua = plc is not None and spec.string_states

        def ref(tag: str, uid: str = spec.id, opcua: bool = on_opcua) -> str:
            return plc.node_ref(uid, tag) if opcua and plc is not None else f"{uid}/{tag}"

        states = {(name.upper() if spec.string_states else str(code)): name for name, code in PLC_CODES.items()}
        units.append(
            {
                "id": spec.id,
                "state_tag": ref("state"),
                "product_tag": ref("product"),
                "speed_tag": ref("speed"),
                "upstream": spec.upstream,
                "states": states,
                "counters": {"total": ref("total"), "reject": ref("reject"), "rollover": spec.rollover},
                "ideal_cycle_s": dict(spec.ideal_cycle_s),
            }
        )
    section: dict[str, Any] = {"units": units, "shifts": shifts, **knobs}
    if plc is not None:
        section["opcua"] = {"url": plc.url, "publishing_interval_ms": 100, "reconnect_s": 0.5, "timeout_s": 2.0}
    return section


class PlcFeed:
    """Sends samples: OPC UA units' to the server, the others as {ns}/sensor/UNIT/TAG JSON over MQTT."""

    def __init__(self, publish: PublishMqtt, ns: str, plc: OpcUaPlc | None, opcua_units: Collection[str]) -> None:
        self.publish = publish
        self.ns = ns
        self.plc = plc
        self.opcua_units = opcua_units
        self.sent = 0

    def send(self, samples: list[Sample], opcua: bool = True, mqtt: bool = True) -> None:
        """Send a batch in order; a source switched off (an outage of it) gets nothing."""
        via_opcua = [s for s in samples if s.unit in self.opcua_units]
        if opcua and self.plc is not None and via_opcua:
            self.plc.write(via_opcua)
            self.sent += len(via_opcua)
        if not mqtt:
            return
        for sample in samples:
            if sample.unit not in self.opcua_units:
                body = {"timestamp_ms": sample.ts_ms, "value": sample.value}
                self.publish(f"{self.ns}/sensor/{sample.unit}/{sample.tag}", json.dumps(body).encode())
                self.sent += 1


class PlcRunner:
    """Runs a PlcLine against the wall clock in a thread: speed x real time, never ahead of now."""

    def __init__(self, line: PlcLine, feed: PlcFeed, speed: float = 1.0, wall: Callable[[], float] = time.time) -> None:
        self.line = line
        self.feed = feed
        self.speed = speed
        self._wall = wall
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="plc-sim", daemon=True)

    def start(self) -> None:
        """Start stepping."""
        self._thread.start()

    def stop(self) -> None:
        """Stop stepping."""
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(5)

    def _run(self) -> None:
        began = self._wall()
        while not self._stop.wait(0.2) and self.line.t < self.line.length_s:
            now = self._wall()
            target = min((now - began) * self.speed, now - self.line.start_ms / 1000)
            try:
                self.feed.send(self.line.advance(target))
            except Exception:  # the demo goes on when a broker or the OPC UA server hiccups
                log.exception("PLC simulator step failed")

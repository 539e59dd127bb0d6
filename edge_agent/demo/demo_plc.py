"""`make demo`'s PLCs: the simulated stations on MQTT tags and an OPC UA server, replayed from 2 h ago at 60x."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from edge_agent.config_line import ShiftConfig
from edge_agent.demo.devbroker import free_port
from edge_agent.demo.opcua_plc import OpcUaPlc
from edge_agent.demo.plc_feed import PlcFeed, PlcRunner, PublishMqtt, line_section
from edge_agent.demo.plc_line import DEMO_UNITS, PlcLine
from edge_agent.line.shifts import ShiftCalendar

SHIFTS = [
    {"name": name, "start": start, "hours": 8, "breaks": [{"start": pause, "minutes": 30}]}
    for name, start, pause in (("early", "06:00", "10:00"), ("late", "14:00", "18:00"), ("night", "22:00", "02:00"))
]
HISTORY_S = 2 * 3600  # the demo starts with two hours of line history (replayed fast), then runs in real time
LENGTH_S = 3 * 24 * 3600


@dataclass
class DemoPlc:
    """The running PLC simulation of the demo and the agent config section that reads it."""

    plc: OpcUaPlc
    runner: PlcRunner
    section: dict[str, Any]

    def stop(self) -> None:
        """Stop stepping, then the OPC UA server."""
        self.runner.stop()
        self.plc.stop()


def prepare_demo_plc(publish: PublishMqtt, ns: str) -> DemoPlc:
    """Start the OPC UA server and build the line section; call start() on the runner once the agent runs."""
    start_ms = int((time.time() - HISTORY_S) * 1000)
    opcua_units = {spec.id for spec in DEMO_UNITS if spec.string_states}
    plc = OpcUaPlc(free_port(), [s.id for s in DEMO_UNITS], opcua_units, initial_ms=start_ms - 1000).start()
    calendar = ShiftCalendar([ShiftConfig.model_validate(shift) for shift in SHIFTS])
    breaks = [
        ((a - start_ms) / 1000, (b - start_ms) / 1000)
        for a, b in calendar.breaks_between(start_ms, start_ms + LENGTH_S * 1000)
    ]
    line = PlcLine(DEMO_UNITS, start_ms, LENGTH_S, breaks)
    runner = PlcRunner(line, PlcFeed(publish, ns, plc, opcua_units), speed=60.0)
    return DemoPlc(plc, runner, line_section(DEMO_UNITS, plc, SHIFTS, cycles={}))  # the shipped cycle-time model

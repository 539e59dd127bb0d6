"""Line performance on the status page and /metrics: JSON, the loss waterfall and OEE trend SVGs, gauges."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from flask import Blueprint, Response, abort, jsonify, request
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from edge_agent.config_line import LINE_UNIT
from edge_agent.web.line_charts import trend_svg, waterfall_svg

STATES = ("running", "idle", "blocked", "starved", "fault", "planned_stop", "changeover", "unknown")
FACTORS = ("availability", "performance", "quality", "oee")
LOSSES = ("breakdowns", "setup", "other_stops", "small_stops", "reduced_speed", "defects", "startup_rejects")


class LineView(Protocol):
    """What the line pages read: the latest KPI documents per unit and the hourly trend."""

    def documents(self) -> dict[str, dict[str, Any]]:
        """Latest KPI document per unit id (and LINE_UNIT for the line)."""

    def trend(self, unit_id: str, hours: int = 24) -> list[dict[str, Any]]:
        """Hourly KPIs, oldest first."""

    def cycle_documents(self) -> dict[str, dict[str, Any]]:
        """Per unit, the cycle-time model's figures (empty when the model is off)."""


def line_blueprint(view: LineView) -> Blueprint:
    """Routes under /api/v1/line."""
    api = Blueprint("line", __name__, url_prefix="/api/v1/line")

    def _document(unit: str) -> dict[str, Any]:
        document = view.documents().get(unit)
        if document is None:
            abort(404, description=f"unknown line unit {unit!r}")
        return document

    @api.get("")
    def documents() -> Response:
        """Every unit's latest KPI document (shift so far and rolling window)."""
        return jsonify(units=view.documents())

    @api.get("/cycles")
    def cycles() -> Response:
        """Per unit: cycle verdict counts, pace over the model, drift and the latest micro-stop/drift events."""
        return jsonify(units=view.cycle_documents())

    @api.get("/<unit>/waterfall.svg")
    def waterfall(unit: str) -> Response:
        """The loss waterfall of the current shift (?window=rolling for the rolling window)."""
        document = _document(unit)
        if request.args.get("window") == "rolling":
            kpi, title = document["rolling"]["kpi"], f"last {document['rolling']['window_s'] / 60:.0f} min"
        else:
            shift = document.get("shift") or {}
            kpi, title = shift.get("kpi"), f"shift {shift.get('id', '-')}"
        return Response(waterfall_svg(unit, kpi, title), mimetype="image/svg+xml")

    @api.get("/<unit>/trend.svg")
    def trend(unit: str) -> Response:
        """Hourly OEE over the last day."""
        _document(unit)
        return Response(trend_svg(unit, view.trend(unit)), mimetype="image/svg+xml")

    return api


class LineCollector(Collector):
    """edge_agent_line_* gauges from the latest KPI documents, read at every scrape."""

    def __init__(self, view: LineView) -> None:
        self._view = view

    def collect(self) -> Iterator[Metric]:
        """Factors and losses per unit and window, parts, unknown time, the current state and input problems."""
        factor = GaugeMetricFamily(
            "edge_agent_line_kpi_ratio", "ISO 22400-2 factor (0-1)", labels=["unit", "window", "kpi"]
        )
        loss = GaugeMetricFamily(
            "edge_agent_line_loss_seconds", "Six big losses (+ other stops)", labels=["unit", "window", "loss"]
        )
        unknown = GaugeMetricFamily("edge_agent_line_unknown_seconds", "Time without data", labels=["unit", "window"])
        parts = GaugeMetricFamily(
            "edge_agent_line_parts", "Parts counted in the window", labels=["unit", "window", "kind"]
        )
        state = GaugeMetricFamily("edge_agent_line_state", "1 for the unit's current state", labels=["unit", "state"])
        problems = GaugeMetricFamily(
            "edge_agent_line_input_problems", "Bad line input so far", labels=["unit", "problem"]
        )
        for unit, document in sorted(self._view.documents().items()):
            windows = [("rolling", document["rolling"]["kpi"])]
            if document.get("shift"):
                windows.append(("shift", document["shift"]["kpi"]))
            for window, kpi in windows:
                for name in FACTORS:
                    if kpi.get(name) is not None:
                        factor.add_metric([unit, window, name], kpi[name])
                for name in LOSSES:
                    loss.add_metric([unit, window, name], kpi[f"{name}_s"])
                unknown.add_metric([unit, window], kpi["unknown_s"])
                parts.add_metric([unit, window, "good"], kpi["good"])
                parts.add_metric([unit, window, "reject"], kpi["reject"])
            if unit != LINE_UNIT:
                for name in STATES:
                    state.add_metric([unit, name], float((document.get("state") or "unknown") == name))
                for problem, count in document.get("problems", {}).items():
                    problems.add_metric([unit, problem], count)
        yield from (factor, loss, unknown, parts, state, problems)
        yield from self._cycles()

    def _cycles(self) -> Iterator[Metric]:
        """The cycle-time model's verdicts and events per unit, its pace over the model and whether it drifts."""
        verdicts = CounterMetricFamily(
            "edge_agent_line_cycles", "Cycles judged by the cycle-time model", labels=["unit", "verdict"]
        )
        events = CounterMetricFamily(
            "edge_agent_line_cycle_events", "Hidden micro-stop and drift events", labels=["unit", "type"]
        )
        pace = GaugeMetricFamily("edge_agent_line_cycle_pace", "Cycles over the model (0.1: +10%)", labels=["unit"])
        drift = GaugeMetricFamily("edge_agent_line_cycle_drift", "1 while a drift alarm is on", labels=["unit"])
        for unit, document in sorted(self._view.cycle_documents().items()):
            for verdict, count in document["counts"].items():
                verdicts.add_metric([unit, verdict], count)
            verdicts.add_metric([unit, "unjudged"], document["unjudged"])
            for kind, count in document["events"].items():
                events.add_metric([unit, kind], count)
            pace.add_metric([unit], document["pace"])
            drift.add_metric([unit], float(document["drift"] is not None))
        yield from (verdicts, events, pace, drift)

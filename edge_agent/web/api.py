"""The JSON API the status page polls (/api/v1/...), and the operator's label action."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge_agent.stats import COUNTER_KINDS
from edge_agent.web.baselines import BaselineRejected
from edge_agent.web.charts import health_chart_svg
from edge_agent.web.snapshot import to_json
from edge_agent.web.view import LabelRejected, StatusView

log = logging.getLogger(__name__)
_ID = r"^[A-Za-z0-9_.-]{1,64}$"
_ASSET = re.compile(_ID)


class LabelRequest(BaseModel):
    """An operator confirming or correcting one inspection verdict."""

    model_config = ConfigDict(extra="forbid")

    camera: str = Field(pattern=_ID, description="Camera whose part is labelled")
    part_id: str = Field(min_length=1, max_length=128, description="Part id of the inspected part")
    label: str = Field(min_length=1, max_length=64, description="The true class, one of the model's labels")
    operator: str = Field(default="operator", min_length=1, max_length=64, description="Who labelled it")


def _limit(default: int, maximum: int) -> int:
    raw = request.args.get("limit", "")
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        abort(400, description=f"limit must be an integer from 1 to {maximum}")
    return int(raw)


def streams(counters: dict[tuple[str, str], int], rates: dict[str, float]) -> list[dict[str, Any]]:
    """One row per stream: counters by kind and per-second rates by kind."""
    rows: dict[str, dict[str, Any]] = {}
    for (kind, stream), value in counters.items():
        if kind in COUNTER_KINDS:
            row = rows.setdefault(stream, {"stream": stream, **dict.fromkeys(COUNTER_KINDS, 0), "rate": {}})
            row[kind] = value
    for key, rate in rates.items():
        kind, _, stream = key.partition(":")
        if kind in COUNTER_KINDS and stream in rows:
            rows[stream]["rate"][kind] = rate
    return [rows[name] for name in sorted(rows)]


def api_blueprint(view: StatusView, refresh_s: float) -> Blueprint:
    """Routes under /api/v1 reading from one view."""
    api = Blueprint("api", __name__, url_prefix="/api/v1")

    @api.get("/status")
    def status() -> Response:
        """Everything on the page except inspections and charts."""
        identity = view.identity()
        outbox = view.outbox()
        readiness = view.readiness()
        return jsonify(
            ts_ms=int(time.time() * 1000),
            gateway=identity.gateway,
            agent_version=identity.agent_version,
            uptime_s=round(time.time() - identity.started, 1),
            refresh_s=refresh_s,
            broker=to_json(view.broker()),
            ready=to_json(readiness),
            models=to_json(view.models()),
            streams=streams(view.counters(), view.rates()),
            latency=[{"pipeline": name, **to_json(info)} for name, info in sorted(view.latency().items())],
            queues=to_json(view.queues()),
            tags=to_json(view.tags()),
            outbox=to_json(outbox) if outbox is not None else None,
            ota_history=view.ota_history(),
            assets=view.assets(),
            baselines=to_json(view.baselines()),
        )

    @api.get("/inspections")
    def inspections() -> Response:
        """Newest inspections first, with thumbnail ids and the labels an operator may choose."""
        return jsonify(inspections=to_json(view.recent_inspections(_limit(24, 200))))

    def _known_asset(asset: str) -> str:
        if not _ASSET.match(asset) or asset not in view.assets():
            abort(404, description="unknown asset")
        return asset

    @api.get("/health/<asset>")
    def health(asset: str) -> Response:
        """Newest health assessments of an asset first."""
        name = _known_asset(asset)
        return jsonify(asset=name, points=to_json(view.health_trend(name, _limit(200, 2000))))

    @api.get("/health/<asset>/chart.svg")
    def health_chart(asset: str) -> Response:
        """The asset's health trend as an SVG image."""
        name = _known_asset(asset)
        svg = health_chart_svg(name, view.health_trend(name, _limit(200, 2000)))
        return Response(svg, mimetype="image/svg+xml")

    @api.get("/thumbnails/<int:thumbnail_id>.jpg")
    def thumbnail(thumbnail_id: int) -> Response:
        """A thumbnail's JPEG (404 once it left the ring buffer)."""
        data = view.thumbnail(thumbnail_id)
        if data is None:
            abort(404, description="thumbnail no longer held")
        return Response(data, mimetype="image/jpeg")

    @api.post("/labels")
    def labels() -> tuple[Response, int]:
        """An operator confirms or corrects a verdict (the CSRF check ran before this)."""
        try:
            body = LabelRequest.model_validate(request.get_json(silent=True))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
            return jsonify(error=f"invalid label: {problems}"), 400
        try:
            view.submit_label(body.camera, body.part_id, body.label, body.operator)
        except LabelRejected as exc:
            return jsonify(error=str(exc)), 400
        log.info("operator %r labelled %s/%s as %r", body.operator, body.camera, body.part_id, body.label)
        return jsonify(ok=True, camera=body.camera, part_id=body.part_id, label=body.label), 200

    @api.post("/baselines/<asset>/<action>")
    def baseline_action(asset: str, action: str) -> tuple[Response, int]:
        """An operator resets an asset's baseline or finishes its commissioning (the CSRF check ran before this)."""
        name = _known_asset(asset)
        body = request.get_json(silent=True)
        operator = body.get("operator") if isinstance(body, dict) else None
        if not isinstance(operator, str) or not 1 <= len(operator) <= 64:
            operator = "operator"
        try:
            outcome = view.baseline_action(name, action, operator)
        except BaselineRejected as exc:
            return jsonify(error=str(exc)), 409
        log.info("operator %r: baseline %s of %s -> %s", operator, action, name, outcome)
        return jsonify(ok=True, asset=name, action=action, outcome=outcome), 200

    return api

"""Admin data API: telemetry queries and summary, hard-example samples, their bytes and labels (admin token only)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, request

from cloud_sync import samples, telemetry
from cloud_sync.context import json_body, json_response, require_admin, services
from cloud_sync.db import session
from cloud_sync.errors import BadRequest
from cloud_sync.records import EXTENSIONS, extension
from cloud_sync.storage import ByteStream
from cloud_sync.wire_data import LabelIn

log = logging.getLogger(__name__)
data_api = Blueprint("data", __name__)
MAX_LIMIT = 1000
TELEMETRY_ARGS = {"device", "stream", "kind", "model", "since_ms", "limit"}
SAMPLE_ARGS = {"model", "labelled", "reason", "device", "source", "since_ms", "after_id", "limit"}


@data_api.before_request
def _admin_only() -> None:
    require_admin()


def _known_args(allowed: set[str]) -> None:
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        raise BadRequest(f"unknown query parameter {', '.join(unknown)}; known: {', '.join(sorted(allowed))}")


def _text_arg(name: str) -> str | None:
    value = request.args.get(name)
    if value is None or value == "":
        return None
    if len(value) > 160:
        raise BadRequest(f"{name}: at most 160 characters")
    return value


def _int_arg(name: str, default: int | None = None, maximum: int | None = None) -> int | None:
    value = request.args.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError as exc:
        raise BadRequest(f"{name}: expected an integer, got {value!r}") from exc
    if number < 0 or (maximum is not None and number > maximum):
        raise BadRequest(f"{name}: expected 0..{maximum if maximum is not None else 'any'}, got {number}")
    return number


def _bool_arg(name: str) -> bool | None:
    value = request.args.get(name)
    if value is None or value == "":
        return None
    lowered = value.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise BadRequest(f"{name}: expected true or false, got {value!r}")


def _limit() -> int:
    found = _int_arg("limit", 100, MAX_LIMIT)
    if not found:
        raise BadRequest(f"limit: expected 1..{MAX_LIMIT}")
    return found


@data_api.get("/telemetry")
def telemetry_records() -> Response:
    """Stored records, newest first, filtered by device, stream, kind, model and since_ms."""
    _known_args(TELEMETRY_ARGS)
    filters: dict[str, Any] = {name: _text_arg(name) for name in ("device", "stream", "kind", "model")}
    filters["since_ms"] = _int_arg("since_ms")
    limit = _limit()
    with session(services().engine) as db:
        return json_response([telemetry.telemetry_out(row) for row in telemetry.query(db, filters, limit)])


@data_api.get("/telemetry/summary")
def telemetry_summary() -> Response:
    """Result counts per verdict or state, per model version and device, and the gateways' drop counters."""
    _known_args({"model", "since_ms"})
    with session(services().engine) as db:
        return json_response(telemetry.summary(db, _text_arg("model"), _int_arg("since_ms")))


@data_api.get("/samples")
def sample_list() -> Response:
    """Samples by id (page with after_id), filtered by model, labelled, reason, device, source and since_ms."""
    _known_args(SAMPLE_ARGS)
    filters: dict[str, Any] = {name: _text_arg(name) for name in ("model", "reason", "device", "source")}
    filters["labelled"] = _bool_arg("labelled")
    filters["since_ms"] = _int_arg("since_ms")
    after_id, limit = _int_arg("after_id", 0) or 0, _limit()
    with session(services().engine) as db:
        return json_response([samples.sample_out(s) for s in samples.list_samples(db, filters, after_id, limit)])


@data_api.get("/samples/<int:sample_id>")
def sample_one(sample_id: int) -> Response:
    """One sample's metadata with its label history."""
    with session(services().engine) as db:
        return json_response(samples.sample_detail(db, samples.get_sample(db, sample_id)))


def _chunks(stream: ByteStream) -> Iterator[bytes]:
    try:
        yield from stream
    finally:
        stream.close()


@data_api.get("/samples/<int:sample_id>/content")
def sample_content(sample_id: int) -> Response:
    """The sample's bytes as captured (ETag = their sha256)."""
    with session(services().engine) as db:
        sample = samples.get_sample(db, sample_id)
    etag = f'"{sample.input_sha256}"'
    headers = {
        "ETag": etag,
        "Content-Disposition": f'attachment; filename="{sample.input_sha256}.{extension(sample.content_type)}"',
        "Cache-Control": "private, immutable",
        "Content-Length": str(sample.size),
        # the type comes from a gateway: nothing it sends may run as a page on this origin
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
    }
    mimetype = sample.content_type if sample.content_type in EXTENSIONS else "application/octet-stream"
    if etag in request.headers.get("If-None-Match", ""):
        return Response(status=304, headers={"ETag": etag})
    if sample.size == 0:
        return Response(b"", headers=headers, mimetype=mimetype)
    stream = services().storage.open(sample.storage_key, 0, sample.size - 1)
    response = Response(_chunks(stream), headers=headers, mimetype=mimetype, direct_passthrough=True)
    response.call_on_close(stream.close)
    return response


@data_api.post("/samples/<int:sample_id>/label")
def sample_label(sample_id: int) -> Response:
    """A cloud labeller confirms or corrects the label; answers the sample with its label history."""
    body = json_body(LabelIn)
    with session(services().engine) as db:
        sample = samples.label_sample(db, sample_id, body)
        db.commit()
        return json_response(samples.sample_detail(db, sample))

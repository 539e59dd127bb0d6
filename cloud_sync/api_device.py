"""Device API (desired state, reports) and artifact downloads with HTTP Range (device or admin token)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from flask import Blueprint, Response, request

from cloud_sync import fleet
from cloud_sync.context import json_body, json_response, principal, require_device, services
from cloud_sync.db import session
from cloud_sync.errors import Forbidden, PayloadTooLarge
from cloud_sync.intake import store_batch, store_payloads
from cloud_sync.ranges import Unsatisfiable, parse_range
from cloud_sync.records import decode_batch, interpret
from cloud_sync.registry import get_version
from cloud_sync.retention import sample_grace_ms
from cloud_sync.storage import ByteStream
from cloud_sync.wire import DesiredOut, ReportIn
from cloud_sync.wire_data import BatchIn

log = logging.getLogger(__name__)
device_api = Blueprint("device", __name__)


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    candidates = [item.strip().removeprefix("W/") for item in header.split(",")]
    return "*" in candidates or etag in candidates


@device_api.get("/devices/<device_id>/desired")
def desired(device_id: str) -> Response:
    """The versions this device should run now; 304 when If-None-Match names the current document."""
    with session(services().engine) as db:
        require_device(db, device_id)
        found = fleet.offers(db, device_id)
        db.commit()
    # the ETag comes from the document's inputs, so the usual answer, 304, builds no document
    etag = fleet.offers_etag(found)
    if _etag_matches(request.headers.get("If-None-Match"), etag):
        response = Response(status=304)
    else:
        document = DesiredOut(models=fleet.desired_models(found))
        response = Response(document.model_dump_json(), mimetype="application/json")
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = "no-cache"
    return response


@device_api.post("/devices/<device_id>/report")
def report(device_id: str) -> Response:
    """Record one OTA state change; repeats of the same change are accepted and ignored."""
    with session(services().engine) as db:
        require_device(db, device_id)
        body = json_body(ReportIn)
        fleet.record_report(db, device_id, body)
        db.commit()
    return Response(status=204)


@device_api.post("/devices/<device_id>/batches")
def batches(device_id: str) -> Response:
    """Outbox upload: store each record once (device, stream, seq); acknowledge every seq the cloud now holds."""
    caller = principal()
    if caller.admin or caller.device_id != device_id:
        raise Forbidden(f"this token may not act for device {device_id}")
    found = services()
    limit = found.settings.max_batch_bytes
    request.max_content_length = limit + 1  # this route's own limit, not max_upload_bytes
    body = json_body(BatchIn, limit)
    if len(body.records) > found.settings.max_batch_records:
        raise PayloadTooLarge(f"{len(body.records)} records; at most {found.settings.max_batch_records} per batch")
    items = [interpret(record) for record in decode_batch(body)]
    store_payloads(found.engine, found.storage, items, sample_grace_ms(found.settings))
    with session(found.engine) as db:
        # the device's row lock: one device's uploads are stored one after another, on any replica
        require_device(db, device_id, lock=True)
        answer = store_batch(db, device_id, items, dict(body.drops))
        db.commit()
    return json_response(answer)


def _chunks(stream: ByteStream, label: str) -> Iterator[bytes]:
    try:
        yield from stream
    except Exception:
        # Headers are gone already; the client sees a short body and resumes with Range.
        log.exception("download of %s broke off", label)
        raise
    finally:
        stream.close()


@device_api.get("/models/<name>/<version>/artifact")
def artifact(name: str, version: str) -> Response:
    """The signed package tar; single byte ranges (206), 416 past the end, ETag = artifact sha256."""
    caller = principal()
    with session(services().engine) as db:
        record = get_version(db, name, version)
        if not caller.admin:
            device_id = require_device(db, caller.device_id or "")
            if not fleet.may_download(db, device_id, name, version):
                raise Forbidden(f"{name} {version} is not offered to device {device_id}")
            db.commit()
    size = record.artifact_size
    etag = f'"{record.artifact_sha256}"'
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Content-Disposition": f'attachment; filename="{name}-{version}.tar"',
        "Cache-Control": "private, no-transform",
    }
    if _etag_matches(request.headers.get("If-None-Match"), etag):
        return Response(status=304, headers=headers)
    range_header = request.headers.get("Range")
    if_range = request.headers.get("If-Range")
    if if_range is not None and if_range.strip() != etag:
        range_header = None  # the client's partial copy is of other bytes: send everything
    try:
        wanted = parse_range(range_header, size)
    except Unsatisfiable:
        answer = json_response({"error": "range_not_satisfiable", "detail": f"the artifact has {size} bytes"}, 416)
        answer.headers.update(headers)
        answer.headers["Content-Range"] = f"bytes */{size}"
        return answer
    start, end = (wanted.start, wanted.end) if wanted else (0, size - 1)
    status = 206 if wanted else 200
    if request.method == "HEAD":
        # Headers only: the store is not touched.
        response = Response(status=status, headers=headers, mimetype="application/x-tar")
    else:
        stream = services().storage.open(record.artifact_key, start, end)
        response = Response(
            _chunks(stream, f"{name} {version}"),
            status=status,
            headers=headers,
            mimetype="application/x-tar",
            direct_passthrough=True,
        )
        response.call_on_close(stream.close)
    response.headers["Content-Length"] = str(end - start + 1)
    if wanted:
        response.headers["Content-Range"] = wanted.content_range(size)
    return response

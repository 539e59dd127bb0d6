"""Admin API: model registry uploads, groups, devices and rollouts (admin token only)."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

from flask import Blueprint, Response, request
from sqlmodel import col, select

from cloud_sync import fleet, rollouts, telemetry
from cloud_sync.context import json_body, json_response, require_admin, services
from cloud_sync.db import session
from cloud_sync.errors import NotFound, PayloadTooLarge, StorageError
from cloud_sync.registry import get_version, list_versions, model_out, publish, publish_out
from cloud_sync.tables import Device, Rollout
from cloud_sync.wire import DeviceCreated, DeviceIn, GroupIn, GroupOut, RolloutIn

log = logging.getLogger(__name__)
admin = Blueprint("admin", __name__)


@admin.before_request
def _admin_only() -> None:
    # Device calls and artifact downloads live in api_device; everything here needs the admin token.
    require_admin()


def _spool_upload(target: Path, limit: int) -> None:
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"package is {request.content_length} bytes; at most {limit} accepted")
    received = 0
    with target.open("wb") as out:
        while chunk := request.stream.read(1 << 20):
            received += len(chunk)
            if received > limit:
                raise PayloadTooLarge(f"package is larger than {limit} bytes")
            out.write(chunk)


@admin.post("/models")
def upload_model() -> Response:
    """Publish a package tar: check, re-sign, store; 201 when new, 200 when identical to a published one."""
    found = services()
    limit = found.settings.max_upload_bytes
    try:
        found.spool.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=found.spool, prefix="upload-") as work:
            upload = Path(work) / "upload.tar"
            files = Path(work) / "files"
            files.mkdir()
            _spool_upload(upload, limit)
            result = publish(found.engine, found.storage, found.signer, upload, files, limit)
    except OSError as exc:
        # The spool directory is full or unwritable: the upload may succeed later.
        raise StorageError(f"upload spool {found.spool}: {exc.strerror or exc}") from exc
    return json_response(publish_out(result.record), 201 if result.created else 200)


@admin.get("/models")
def models() -> Response:
    """Every published version."""
    with session(services().engine) as db:
        return json_response([model_out(record) for record in list_versions(db)])


@admin.get("/models/<name>/<version>")
def model(name: str, version: str) -> Response:
    """One version with its (signed) manifest."""
    with session(services().engine) as db:
        record = get_version(db, name, version)
    document = model_out(record).model_dump(mode="json")
    document["manifest"] = json.loads(record.manifest_json)
    document["signed_by"] = record.signed_by
    return json_response(document)


@admin.get("/fleet-key")
def fleet_key() -> Response:
    """The public half of the fleet key (PEM), for gateway provisioning."""
    return Response(services().signer.public_pem, mimetype="application/x-pem-file")


@admin.post("/groups")
def add_group() -> Response:
    """Create a group; 200 when it exists already."""
    body = json_body(GroupIn)
    with session(services().engine) as db:
        _, created = fleet.ensure_group(db, body.name)
        db.commit()
        count = len(db.exec(select(Device.id).where(Device.group_name == body.name)).all())
    return json_response(GroupOut(name=body.name, devices=count), 201 if created else 200)


@admin.get("/groups")
def groups() -> Response:
    """Every group with its device count."""
    with session(services().engine) as db:
        return json_response(fleet.list_groups(db))


@admin.post("/devices")
def add_device() -> Response:
    """Provision a device; the answer holds its token, shown this once."""
    body = json_body(DeviceIn)
    with session(services().engine) as db:
        token = fleet.add_device(db, body.id, body.group)
        db.commit()
    return json_response(DeviceCreated(id=body.id, group=body.group, token=token), 201)


@admin.post("/devices/<device_id>/token")
def new_token(device_id: str) -> Response:
    """Replace a lost or leaked device token."""
    with session(services().engine) as db:
        device, token = fleet.rotate_token(db, device_id)
        db.commit()
    return json_response(DeviceCreated(id=device.id, group=device.group_name, token=token))


@admin.get("/devices")
def devices() -> Response:
    """Every device with its versions, last seen time and latest states."""
    with session(services().engine) as db:
        everyone = db.exec(select(Device).order_by(col(Device.id))).all()
        return json_response([fleet.device_out(db, device) for device in everyone])


@admin.get("/devices/<device_id>")
def device(device_id: str) -> Response:
    """One device with its full report history, newest first."""
    with session(services().engine) as db:
        found = db.get(Device, device_id)
        if found is None:
            raise NotFound(f"device {device_id} does not exist")
        document = fleet.device_out(db, found).model_dump(mode="json")
        document["history"] = [fleet.state_out(report).model_dump(mode="json") for report in fleet.history(db, found)]
        document["outbox_drops"] = telemetry.drops(db, found.id).get(found.id, {})
    return json_response(document)


@admin.post("/rollouts")
def add_rollout() -> Response:
    """Start a rollout of a published version to a group."""
    body = json_body(RolloutIn)
    with session(services().engine) as db:
        created = rollouts.create(db, body)
        db.commit()
        return json_response(rollouts.rollout_out(db, created), 201)


@admin.get("/rollouts")
def all_rollouts() -> Response:
    """Every rollout, newest first, without the per-device list."""
    with session(services().engine) as db:
        found = db.exec(select(Rollout).order_by(col(Rollout.id).desc())).all()
        return json_response([rollouts.rollout_out(db, rollout, with_devices=False) for rollout in found])


@admin.get("/rollouts/<int:rollout_id>")
def one_rollout(rollout_id: int) -> Response:
    """Progress of one rollout: waves, counts and each device's state and reason."""
    with session(services().engine) as db:
        return json_response(rollouts.rollout_out(db, rollouts.get(db, rollout_id)))


@admin.post("/rollouts/<int:rollout_id>/pause")
def pause(rollout_id: int) -> Response:
    """Stop opening waves."""
    with session(services().engine) as db:
        rollout = rollouts.get(db, rollout_id, lock=True)
        rollouts.pause(db, rollout)
        db.commit()
        return json_response(rollouts.rollout_out(db, rollout))


@admin.post("/rollouts/<int:rollout_id>/resume")
def resume(rollout_id: int) -> Response:
    """Open waves again; failures so far are accepted."""
    with session(services().engine) as db:
        rollout = rollouts.get(db, rollout_id, lock=True)
        rollouts.resume(db, rollout)
        db.commit()
        return json_response(rollouts.rollout_out(db, rollout))

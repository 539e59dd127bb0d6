"""Per-app services and request helpers shared by the blueprints: auth, JSON bodies, JSON answers."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from flask import Response, current_app, g, request
from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine, Table, or_, select, update
from sqlmodel import Session

from cloud_sync.db import now_ms
from cloud_sync.errors import BadRequest, Forbidden, PayloadTooLarge, Unauthorized
from cloud_sync.fleet import hash_token
from cloud_sync.settings import Settings
from cloud_sync.signing import FleetSigner
from cloud_sync.storage import Storage
from cloud_sync.tables import Device

EXTENSION = "cloud_sync"
Body = TypeVar("Body", bound=BaseModel)
DEVICES: Table = Device.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Services:
    """What the request handlers of one app share."""

    settings: Settings
    engine: Engine
    storage: Storage
    signer: FleetSigner
    admin_token_sha256: str
    spool: Path


@dataclass(frozen=True)
class Principal:
    """Who is calling: the admin, or one device."""

    admin: bool
    device_id: str | None = None
    last_seen_ms: int | None = None


def services() -> Services:
    """The services of the current app."""
    found: Services = current_app.extensions[EXTENSION]
    return found


def _presented_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if scheme.lower() == "basic" and value.strip():
        # Browsers on the fleet page send Basic auth: any user name, the admin token as password.
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise Unauthorized("malformed Basic credentials") from exc
        password = decoded.partition(":")[2]
        if password:
            return password
    raise Unauthorized("send Authorization: Bearer <token>")


def principal(db: Session | None = None) -> Principal:
    """Authenticate the request (once per request, in db's transaction when given); Unauthorized for an unknown token.

    The token is looked up on every request (never cached in the process), so a replaced token fails at once on
    every replica.
    """
    cached: Principal | None = g.get("principal")
    if cached is not None:
        return cached
    digest = hash_token(_presented_token())
    found: Principal
    if hmac.compare_digest(digest, services().admin_token_sha256):
        found = Principal(admin=True)
    else:
        # one indexed row through Core: no ORM object per request
        query = select(DEVICES.c.id, DEVICES.c.last_seen_ms).where(DEVICES.c.token_sha256 == digest)
        if db is not None:
            row = db.connection().execute(query).first()
        else:
            with services().engine.connect() as connection:
                row = connection.execute(query).first()
        if row is None:
            raise Unauthorized("unknown token")
        found = Principal(admin=False, device_id=row.id, last_seen_ms=row.last_seen_ms)
    g.principal = found
    return found


def require_admin() -> None:
    """Only the admin token may go on."""
    if not principal().admin:
        raise Forbidden("this call needs the admin token")


def require_device(db: Session, device_id: str, lock: bool = False) -> str:
    """Only the token of this very device may go on; records it seen; with lock, holds its row until commit.

    last_seen is written at most once per last_seen_write_s per device (a poll every 30 s from 1,000 gateways would
    otherwise be 33 row updates a second for a column people read in minutes); a locking call always writes it.
    """
    caller = principal(db)
    if caller.admin or caller.device_id != device_id:
        raise Forbidden(f"this token may not act for device {device_id}")
    now = now_ms()
    stale = now - int(services().settings.last_seen_write_s * 1000)
    if not lock and caller.last_seen_ms is not None and caller.last_seen_ms >= stale:
        return device_id
    seen = update(DEVICES).where(DEVICES.c.id == device_id).values(last_seen_ms=now).returning(DEVICES.c.id)
    if not lock:
        # another replica may have written it meanwhile: only the first write in the interval counts
        seen = seen.where(or_(DEVICES.c.last_seen_ms.is_(None), DEVICES.c.last_seen_ms < stale))
    written = db.connection().execute(seen).first() is not None
    if lock and not written:
        raise Unauthorized("unknown token")  # deleted between authentication and now
    return device_id


def json_body(model: type[Body], limit: int | None = None) -> Body:
    """The request body validated against a wire model (at most limit bytes); BadRequest names every problem."""
    limit = limit or services().settings.max_json_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"JSON bodies are limited to {limit} bytes")
    data = request.stream.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"JSON bodies are limited to {limit} bytes")
    try:
        document = json.loads(data or b"{}")
    except ValueError as exc:
        raise BadRequest(f"body is not valid JSON ({exc})") from exc
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(body)'}: {err['msg']}" for err in exc.errors()
        )
        raise BadRequest(problems) from exc


def json_response(payload: BaseModel | list[Any] | dict[str, Any], status: int = 200) -> Response:
    """A JSON answer from a wire model, a list of wire models or a plain document."""
    if isinstance(payload, BaseModel):
        text = payload.model_dump_json()
    elif isinstance(payload, list):
        text = json.dumps([item.model_dump(mode="json") if isinstance(item, BaseModel) else item for item in payload])
    else:
        text = json.dumps(payload)
    return Response(text, status=status, mimetype="application/json")

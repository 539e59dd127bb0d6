"""Provisioning, device tokens and their scope, report history and the desired-state document."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session, select

from cloud_sync.context import services
from cloud_sync.tables import Device
from tests.cloud_sync.helpers import ADMIN, add_device, bearer, js, report


def test_a_provisioned_device_gets_a_token_once_and_only_its_hash_is_stored(app: Flask, client: FlaskClient) -> None:
    # given an admin provisions a gateway
    answer = client.post("/api/v1/devices", json={"id": "gw-1", "group": "line-1"}, headers=ADMIN)
    # then the token is in the answer, long and random
    assert answer.status_code == 201
    token = js(answer)["token"]
    assert len(token) >= 40
    # and the database keeps only its sha256
    with app.app_context(), Session(services().engine) as db:
        stored = db.exec(select(Device)).one()
    assert stored.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    # and no later listing shows it; provisioning the same id again is refused
    listing = client.get("/api/v1/devices", headers=ADMIN)
    assert token not in listing.get_data(as_text=True)
    assert [d["id"] for d in js(listing)] == ["gw-1"]
    assert client.post("/api/v1/devices", json={"id": "gw-1", "group": "line-1"}, headers=ADMIN).status_code == 409
    assert js(client.get("/api/v1/groups", headers=ADMIN)) == [{"name": "line-1", "devices": 1}]


def test_a_device_token_works_only_for_its_own_device(client: FlaskClient) -> None:
    # given two gateways
    token_1 = add_device(client, "gw-1")
    add_device(client, "gw-2")
    # when gw-1's token is used for gw-1, for gw-2, and on admin calls
    own = client.get("/api/v1/devices/gw-1/desired", headers=bearer(token_1))
    other_desired = client.get("/api/v1/devices/gw-2/desired", headers=bearer(token_1))
    other_report = client.post(
        "/api/v1/devices/gw-2/report",
        json={"name": "m", "version": "1.0.0", "state": "committed", "ts_ms": 1},
        headers=bearer(token_1),
    )
    admin_call = client.get("/api/v1/devices", headers=bearer(token_1))
    # then only its own device is allowed
    assert own.status_code == 200
    assert other_desired.status_code == 403 and js(other_desired)["error"] == "forbidden"
    assert other_report.status_code == 403
    assert admin_call.status_code == 403


def test_calls_without_a_known_token_are_unauthorized(client: FlaskClient) -> None:
    # given a provisioned gateway
    add_device(client, "gw-1")
    # when calls come without a token, with a made-up one, or with the admin token on a device path
    missing = client.get("/api/v1/devices/gw-1/desired")
    made_up = client.get("/api/v1/devices/gw-1/desired", headers=bearer("not-a-token"))
    as_admin = client.get("/api/v1/devices/gw-1/desired", headers=ADMIN)
    basic = base64.b64encode(b"anyone:not-a-token").decode()
    wrong_basic = client.get("/api/v1/devices", headers={"Authorization": f"Basic {basic}"})
    # then the unknown callers get 401 with a challenge, the admin may not act as a device
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert made_up.status_code == 401
    assert wrong_basic.status_code == 401
    assert as_admin.status_code == 403


def test_a_new_token_replaces_the_old_one(client: FlaskClient) -> None:
    # given a gateway whose token leaked
    old = add_device(client, "gw-1")
    # when the admin issues a new one
    answer = client.post("/api/v1/devices/gw-1/token", headers=ADMIN)
    # then only the new token works
    assert answer.status_code == 200
    assert client.get("/api/v1/devices/gw-1/desired", headers=bearer(old)).status_code == 401
    assert client.get("/api/v1/devices/gw-1/desired", headers=bearer(js(answer)["token"])).status_code == 200


def test_reports_are_idempotent_and_kept_as_history(client: FlaskClient) -> None:
    # given a gateway
    token = add_device(client, "gw-1")
    body = {"name": "line-qi", "version": "1.0.0", "state": "committed", "ts_ms": 5000, "reason": "", "detail": {}}
    # when it reports a sequence of states, sending one of them twice (a retry)
    for state, ts_ms in (("downloading", 1000), ("verifying", 2000), ("committed", 5000)):
        sent = client.post(
            "/api/v1/devices/gw-1/report", json={**body, "state": state, "ts_ms": ts_ms}, headers=bearer(token)
        )
        assert sent.status_code == 204
    retry = client.post("/api/v1/devices/gw-1/report", json=body, headers=bearer(token))
    # then the retry is accepted and ignored, and the history lists each change once, newest first
    assert retry.status_code == 204
    device = js(client.get("/api/v1/devices/gw-1", headers=ADMIN))
    assert [h["state"] for h in device["history"]] == ["committed", "verifying", "downloading"]
    assert device["models"] == {"line-qi": "1.0.0"}
    assert device["last_seen"] is not None
    assert [s["state"] for s in device["states"]] == ["committed"]


def test_malformed_reports_are_refused_with_the_field_named(client: FlaskClient) -> None:
    # given a gateway
    token = add_device(client, "gw-1")
    # when it sends a report with an unknown state and a missing timestamp
    answer = client.post(
        "/api/v1/devices/gw-1/report",
        json={"name": "line-qi", "version": "1.0.0", "state": "done"},
        headers=bearer(token),
    )
    # then the answer is 400 and names both fields
    assert answer.status_code == 400
    assert "state" in js(answer)["detail"] and "ts_ms" in js(answer)["detail"]


def test_the_desired_document_supports_conditional_polling(client: FlaskClient, published: Path) -> None:
    # given line-qi 1.0.0 is published and a gateway polled once
    token = add_device(client, "gw-1")
    first = client.get("/api/v1/devices/gw-1/desired", headers=bearer(token))
    assert js(first) == {"models": []}
    # when it polls again with the ETag it got
    again = client.get(
        "/api/v1/devices/gw-1/desired", headers={**bearer(token), "If-None-Match": first.headers["ETag"]}
    )
    # then nothing changed: 304
    assert again.status_code == 304
    # and once it reports running 1.0.0 the document lists that version (nothing to do) under a new ETag
    assert report(client, "gw-1", token, "committed", version="1.0.0") == 204
    changed = client.get(
        "/api/v1/devices/gw-1/desired", headers={**bearer(token), "If-None-Match": first.headers["ETag"]}
    )
    assert changed.status_code == 200
    [entry] = js(changed)["models"]
    assert (entry["name"], entry["version"], entry["rollout_id"]) == ("line-qi", "1.0.0", None)

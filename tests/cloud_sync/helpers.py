"""Test helpers for the HTTP API: provisioning devices, reporting states, starting rollouts."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.cloud_sync.pkgtools import MODEL

ADMIN_TOKEN = "admin-token-for-tests-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

_clock = {"ms": 1_700_000_000_000}


def js(response: TestResponse) -> Any:
    """The JSON body of a test response (asserting there is one)."""
    document = response.get_json(silent=True)
    assert document is not None, response.get_data(as_text=True)[:500]
    return document


def bearer(token: str) -> dict[str, str]:
    """Authorization header of a token."""
    return {"Authorization": f"Bearer {token}"}


def add_device(client: FlaskClient, device_id: str, group: str = "line-1") -> str:
    """Provision a device; returns its token."""
    answer = client.post("/api/v1/devices", json={"id": device_id, "group": group}, headers=ADMIN)
    assert answer.status_code == 201, js(answer)
    return str(js(answer)["token"])


def add_devices(client: FlaskClient, count: int, group: str = "line-1") -> dict[str, str]:
    """Provision gw-00, gw-01, ...; returns id -> token."""
    return {f"gw-{i:02d}": add_device(client, f"gw-{i:02d}", group) for i in range(count)}


def report(client: FlaskClient, device_id: str, token: str, state: str, version: str = "1.1.0", **extra: Any) -> int:
    """POST one state change with a fresh device timestamp; returns the status code."""
    _clock["ms"] += 1000
    body = {"name": MODEL, "version": version, "state": state, "ts_ms": _clock["ms"], **extra}
    return client.post(f"/api/v1/devices/{device_id}/report", json=body, headers=bearer(token)).status_code


def desired(client: FlaskClient, device_id: str, token: str) -> dict[str, dict[str, Any]]:
    """The device's desired document as model name -> entry."""
    answer = client.get(f"/api/v1/devices/{device_id}/desired", headers=bearer(token))
    assert answer.status_code == 200, js(answer)
    return {entry["name"]: entry for entry in js(answer)["models"]}


def start_rollout(client: FlaskClient, version: str = "1.1.0", group: str = "line-1", **options: Any) -> dict[str, Any]:
    """POST /rollouts; returns the created rollout."""
    body = {"model": MODEL, "version": version, "group": group, **options}
    answer = client.post("/api/v1/rollouts", json=body, headers=ADMIN)
    assert answer.status_code == 201, js(answer)
    return dict(js(answer))


def rollout(client: FlaskClient, rollout_id: int) -> dict[str, Any]:
    """GET /rollouts/{id}."""
    answer = client.get(f"/api/v1/rollouts/{rollout_id}", headers=ADMIN)
    assert answer.status_code == 200, js(answer)
    return dict(js(answer))

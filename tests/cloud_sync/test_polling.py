"""The gateway paths' cheap answers: last_seen written at most once per interval, ETags replicas agree on, reports
that wait for a rollout's lock only when they can move it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update
from sqlmodel import Session

from cloud_sync.app import create_app, dispose, services_of
from cloud_sync.context import DEVICES
from cloud_sync.db import now_ms
from cloud_sync.settings import Settings
from cloud_sync.tables import Device
from tests.cloud_sync.batchtools import inspection, upload
from tests.cloud_sync.helpers import ADMIN, add_device, bearer, js, report, start_rollout
from tests.cloud_sync.pkgtools import make_package, tar_dir

DESIRED = "/api/v1/devices/gw-1/desired"


def _last_seen(app: Flask) -> int | None:
    with Session(services_of(app).engine) as db:
        device = db.get(Device, "gw-1")
        assert device is not None
        return device.last_seen_ms


def _set_last_seen(app: Flask, value: int) -> None:
    with Session(services_of(app).engine) as db:
        db.connection().execute(update(DEVICES).where(DEVICES.c.id == "gw-1").values(last_seen_ms=value))
        db.commit()


def test_a_device_is_seen_at_its_first_call_and_written_again_only_once_the_interval_passed(
    app: Flask, client: FlaskClient
) -> None:
    # given a gateway that never called (last_seen_write_s is 60 s by default)
    token = add_device(client, "gw-1")
    assert _last_seen(app) is None
    # when it polls, it is seen
    before = now_ms()
    assert client.get(DESIRED, headers=bearer(token)).status_code == 200
    first = _last_seen(app)
    assert first is not None and first >= before
    assert js(client.get("/api/v1/devices/gw-1", headers=ADMIN))["last_seen"] is not None
    # when it polls and reports again 30 s later (as the database tells), nothing is written
    _set_last_seen(app, now_ms() - 30_000)
    thirty_ago = _last_seen(app)
    assert client.get(DESIRED, headers=bearer(token)).status_code == 200
    assert report(client, "gw-1", token, "downloading") == 204
    assert _last_seen(app) == thirty_ago
    # when 61 s have passed, the next poll writes it
    _set_last_seen(app, now_ms() - 61_000)
    before = now_ms()
    assert client.get(DESIRED, headers=bearer(token)).status_code == 200
    assert (_last_seen(app) or 0) >= before


def test_a_batch_upload_always_writes_last_seen_as_it_locks_the_device_row(app: Flask, client: FlaskClient) -> None:
    # given a gateway seen 30 s ago (within the interval)
    token = add_device(client, "gw-1")
    assert client.get(DESIRED, headers=bearer(token)).status_code == 200
    _set_last_seen(app, now_ms() - 30_000)
    # when it uploads a batch
    before = now_ms()
    assert upload(client, token, [inspection(1)], device="gw-1").status_code == 200
    # then the upload's row lock (an UPDATE of the device row) recorded it seen now
    assert (_last_seen(app) or 0) >= before


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_interval_of_zero_writes_last_seen_on_every_call(settings_values: dict[str, Any]) -> None:
    # given a service configured to write last_seen on every call
    app = create_app(Settings.model_validate({**settings_values, "last_seen_write_s": 0}))
    client = app.test_client()
    token = add_device(client, "gw-1")
    assert client.get(DESIRED, headers=bearer(token)).status_code == 200
    _set_last_seen(app, now_ms() - 1_000)
    # when the gateway polls 1 s later, the poll is written
    before = now_ms()
    assert client.get(DESIRED, headers=bearer(token)).status_code == 200
    assert (_last_seen(app) or 0) >= before
    dispose(app)


@pytest.fixture
def replicas(app: Flask, settings_values: dict[str, Any]) -> Iterator[tuple[FlaskClient, FlaskClient]]:
    """Two app instances on one database: what two replicas share is the database, nothing else."""
    other = create_app(Settings.model_validate(settings_values))
    yield app.test_client(), other.test_client()
    dispose(other)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_replicas_agree_on_the_etag_and_a_rollout_change_is_a_200_at_once(
    replicas: tuple[FlaskClient, FlaskClient], published: Path, tmp_path: Path
) -> None:
    # given a gateway running line-qi 1.0.0 that polled replica A
    a, b = replicas
    token = add_device(a, "gw-1")
    assert report(a, "gw-1", token, "committed", version="1.0.0") == 204
    first = a.get(DESIRED, headers=bearer(token))
    assert [entry["version"] for entry in js(first)["models"]] == ["1.0.0"]
    # when it polls replica B with that ETag and nothing changed, then B answers 304 with the same ETag
    unchanged = b.get(DESIRED, headers={**bearer(token), "If-None-Match": first.headers["ETag"]})
    assert unchanged.status_code == 304 and unchanged.headers["ETag"] == first.headers["ETag"]
    # when an operator starts a rollout of 1.1.0 through A, B's next answer to the old ETag is the offer
    answer = a.post("/api/v1/models", data=tar_dir(make_package(tmp_path / "v11", "1.1.0")), headers=ADMIN)
    assert answer.status_code == 201
    rollout = start_rollout(a, "1.1.0", "line-1", canary_percent=100)
    offered = b.get(DESIRED, headers={**bearer(token), "If-None-Match": first.headers["ETag"]})
    assert offered.status_code == 200 and offered.headers["ETag"] != first.headers["ETag"]
    [entry] = js(offered)["models"]
    assert (entry["version"], entry["rollout_id"]) == ("1.1.0", rollout["id"])
    assert a.get(DESIRED, headers={**bearer(token), "If-None-Match": offered.headers["ETag"]}).status_code == 304
    # when the gateway rejects it through B, A withdraws the offer at once: a 200 back to 1.0.0
    assert report(b, "gw-1", token, "rejected", version="1.1.0", rollout_id=rollout["id"]) == 204
    withdrawn = a.get(DESIRED, headers={**bearer(token), "If-None-Match": offered.headers["ETag"]})
    assert withdrawn.status_code == 200
    assert [entry["version"] for entry in js(withdrawn)["models"]] == ["1.0.0"]
    assert withdrawn.headers["ETag"] == first.headers["ETag"]


def test_a_running_version_published_later_changes_the_etag(client: FlaskClient, tmp_path: Path) -> None:
    # given a gateway running 1.0.0, installed outside the registry: nothing to offer
    token = add_device(client, "gw-1")
    assert report(client, "gw-1", token, "committed", version="1.0.0") == 204
    first = client.get(DESIRED, headers=bearer(token))
    assert js(first) == {"models": []}
    # when 1.0.0 is published, the old ETag gets the document with it
    answer = client.post("/api/v1/models", data=tar_dir(make_package(tmp_path / "pkg", "1.0.0")), headers=ADMIN)
    assert answer.status_code == 201
    again = client.get(DESIRED, headers={**bearer(token), "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 200
    assert [entry["version"] for entry in js(again)["models"]] == ["1.0.0"]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_step_before_the_final_state_does_not_wait_for_the_rollouts_lock(
    app: Flask, client: FlaskClient, published: Path, tmp_path: Path, database_url: str
) -> None:
    # given a rollout of 1.1.0 offered to a gateway, and another replica holding the rollout's row lock for 3 s
    token = add_device(client, "gw-1")
    answer = client.post("/api/v1/models", data=tar_dir(make_package(tmp_path / "v11", "1.1.0")), headers=ADMIN)
    assert answer.status_code == 201
    rollout = start_rollout(client, "1.1.0", "line-1", canary_percent=100)
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        with psycopg.connect(database_url.replace("+psycopg", "")) as connection:
            connection.execute("SELECT id FROM rollouts WHERE id = %s FOR UPDATE", (rollout["id"],))
            locked.set()
            release.wait(3)

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(10)
    # when the gateway reports downloading, then the report is stored at once (only final states take the lock)
    started = time.monotonic()
    assert report(client, "gw-1", token, "downloading", rollout_id=rollout["id"]) == 204
    assert time.monotonic() - started < 1.5
    shown = js(client.get(f"/api/v1/rollouts/{rollout['id']}", headers=ADMIN))
    release.set()
    holder.join()
    assert shown["counts"] == {"downloading": 1}
    # and its committed report, which may finish the wave, takes the lock (now free) and completes the rollout
    assert report(client, "gw-1", token, "committed", rollout_id=rollout["id"]) == 204
    assert js(client.get(f"/api/v1/rollouts/{rollout['id']}", headers=ADMIN))["state"] == "completed"

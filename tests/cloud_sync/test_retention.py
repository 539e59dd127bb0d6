"""Retention: telemetry pruned by age, samples by age and label status (rows, labels and their bytes)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update
from sqlmodel import col

from cloud_sync.app import services_of
from cloud_sync.db import now_ms
from cloud_sync.tables import Sample, Telemetry
from tests.cloud_sync.batchtools import inspection, sample, stored_keys, stored_samples, upload
from tests.cloud_sync.helpers import ADMIN, add_device, js

DAY_MS = 86_400_000


@pytest.fixture
def settings_values(settings_values: dict[str, Any]) -> dict[str, Any]:
    """Telemetry kept 30 days, unlabelled samples 7, labelled samples 90."""
    settings_values.update(
        telemetry_retention_days=30, unlabelled_sample_retention_days=7, labelled_sample_retention_days=90
    )
    return settings_values


def _age(app: Flask, seqs: list[int], days: float) -> None:
    """Make the records with these seqs look received `days` ago (what a month of running would do)."""
    stamp = now_ms() - int(days * DAY_MS)
    with services_of(app).engine.begin() as connection:
        connection.execute(update(Telemetry).where(col(Telemetry.seq).in_(seqs)).values(received_ms=stamp))
        connection.execute(update(Sample).where(col(Sample.seq).in_(seqs)).values(received_ms=stamp))


def test_retention_prunes_old_telemetry_and_samples_by_age_and_label_status(
    app: Flask, client: FlaskClient, settings_values: dict[str, Any]
) -> None:
    # given results and samples of several ages: unlabelled and labelled, old and recent
    token = add_device(client, "gw-1")
    old_unlabelled, old_labelled, shared, recent = b"old unlabelled", b"old labelled", b"shared bytes", b"recent"
    records = [inspection(seq) for seq in (1, 2)]
    records += [sample(3, old_unlabelled, 1000), sample(4, old_labelled, 2000, label="scratch")]
    records += [sample(5, shared, 3000), sample(6, shared, 4000), sample(7, recent, 5000)]
    assert js(upload(client, token, records))["stored"] == 7
    _age(app, [1, 3, 4, 5], days=40)
    # when the retention pass runs
    answer = client.post("/api/v1/retention/prune", headers=ADMIN)
    # then telemetry older than 30 days is gone, and unlabelled samples older than 7 days with their bytes,
    # except bytes a younger sample still uses; labelled samples are kept for 90 days
    assert answer.status_code == 200 and js(answer) == {"telemetry": 4, "samples": 2, "files": 1}
    assert sorted(seq for _, _, seq in stored_keys(app)) == [2, 6, 7]
    assert sorted(s.seq for s in stored_samples(app)) == [4, 6, 7]
    artifacts = Path(settings_values["state_dir"]) / "artifacts" / "samples"
    kept = {path.name for path in artifacts.rglob("*") if path.is_file()}
    assert kept == {hashlib.sha256(data).hexdigest() for data in (old_labelled, shared, recent)}
    # and a second pass finds nothing more to delete
    assert js(client.post("/api/v1/retention/prune", headers=ADMIN)) == {"telemetry": 0, "samples": 0, "files": 0}

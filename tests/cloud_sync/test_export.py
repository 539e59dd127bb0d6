"""`cloud-sync export`: samples as manifest.jsonl + files/, read by the retraining code; re-runs fetch nothing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from cloud_sync.cli import main
from edge_agent.pipelines.vibration_features import FEATURE_NAMES
from models.training.retrain import load_field_dataset
from models.training.vibration import STATES
from tests.cloud_sync.batchtools import BH, label, sample, upload
from tests.cloud_sync.helpers import ADMIN_TOKEN, add_device

BEARING = {"balls": 9, "ball_diameter_mm": 7.94, "pitch_diameter_mm": 39.04, "contact_angle_deg": 0}


def _windows(client: FlaskClient) -> dict[str, str | None]:
    """Six health windows of bearing-health captured on gw-1, four labelled; returns file name -> label."""
    token = add_device(client, "gw-1")
    records, labels = [], []
    expected: dict[str, str | None] = {}
    for i in range(6):
        payload = json.dumps({"ts_ms": i, "fs_hz": 25600, "samples": [0.01 * i] * 64}).encode()
        features = {name: float(i + k) for k, name in enumerate(FEATURE_NAMES)}
        ts_ms = 1_000_000 + i * 10_000
        records.append(
            sample(
                2 * i + 1,
                payload,
                ts_ms=ts_ms,
                source="pump-1",
                reason="audit",
                content_type="application/json",
                model=BH,
                features=features,
                rpm=1780.0,
                bearing=BEARING,
            )
        )
        if i < 4:
            labels.append(label(2 * i + 2, STATES[i], source="pump-1", ts_ms=ts_ms))
        expected[f"{hashlib.sha256(payload).hexdigest()}.json"] = STATES[i] if i < 4 else None
    assert upload(client, token, labels + records).status_code == 200
    return expected


def _export(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = main(["export", *argv])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


def test_export_writes_a_dataset_the_retraining_code_reads_and_is_idempotent(
    client: FlaskClient, live_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given labelled and unlabelled hard examples of bearing-health in the cloud
    expected = _windows(client)
    dataset = tmp_path / "dataset"
    remote = ("--url", live_url, "--token", ADMIN_TOKEN)
    # when an operator exports the labelled ones
    out = _export(capsys, "bearing-health", "--out", str(dataset), "--only-labelled", *remote)
    # then the manifest lists each labelled sample once with its file, label and provenance
    assert "exported 4 samples of bearing-health (4 labelled)" in out and "4 files downloaded" in out
    lines = [json.loads(line) for line in (dataset / "manifest.jsonl").read_text().splitlines()]
    assert {line["file"]: line["label"] for line in lines} == {k: v for k, v in expected.items() if v}
    first = lines[0]
    assert (first["model"], first["version"], first["content_type"], first["label_origin"]) == (
        "bearing-health",
        "1.0.0",
        "application/json",
        "plc",
    )
    provenance = first["provenance"]
    assert (provenance["device"], provenance["source"], provenance["reason"], provenance["rpm"]) == (
        "gw-1",
        "pump-1",
        "audit",
        1780.0,
    )
    assert provenance["model"]["version"] == "1.0.0" and set(provenance["features"]) == set(FEATURE_NAMES)
    # and every file holds the bytes its name promises
    for line in lines:
        data = (dataset / "files" / line["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == line["sha256"] == line["file"].split(".")[0]
    # and the retraining code reads the dataset: features and states of every labelled window
    field = load_field_dataset(dataset)
    assert sorted(field.states) == sorted(STATES[:4]) and field.x.shape == (4, len(FEATURE_NAMES))
    # when the export runs again, then nothing is downloaded and the manifest is the same
    manifest = (dataset / "manifest.jsonl").read_bytes()
    again = _export(capsys, "bearing-health", "--out", str(dataset), "--only-labelled", *remote)
    assert "0 files downloaded, 4 already present" in again
    assert (dataset / "manifest.jsonl").read_bytes() == manifest
    # when everything since the third window is exported, the unlabelled ones come too (label null)
    since = _export(capsys, "bearing-health", "--out", str(dataset), "--since-ms", "1020000", *remote)
    assert "exported 4 samples of bearing-health (2 labelled)" in since and "2 files downloaded" in since
    labels = [json.loads(line)["label"] for line in (dataset / "manifest.jsonl").read_text().splitlines()]
    assert labels == [STATES[2], STATES[3], None, None]
    # and a model without samples gives an empty manifest
    _export(capsys, "surface-inspection", "--out", str(tmp_path / "empty"), *remote)
    assert (tmp_path / "empty" / "manifest.jsonl").read_text() == ""

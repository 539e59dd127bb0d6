"""Hard examples: bytes stored content-addressed and verified, labels joined in either order, cloud labelling."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.cloud_sync.batchtools import BH, inspection, label, sample, stored_samples, upload
from tests.cloud_sync.helpers import ADMIN, add_device, bearer, js

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8


def _tampered(rec: dict[str, Any], payload: bytes) -> dict[str, Any]:
    """The record with other bytes than its input_sha256 names (a corrupted capture)."""
    document = json.loads(base64.b64decode(rec["body_b64"]))
    document["payload_b64"] = base64.b64encode(payload).decode()
    return {**rec, "body_b64": base64.b64encode(json.dumps(document).encode()).decode()}


def test_a_sample_is_stored_content_addressed_and_its_sha256_is_checked(
    app: Flask, client: FlaskClient, settings_values: dict[str, Any]
) -> None:
    # given a gateway whose batch holds a result, a good sample and a sample whose bytes differ from its sha256
    token = add_device(client, "gw-1")
    digest = hashlib.sha256(JPEG).hexdigest()
    good = sample(2, JPEG, ts_ms=5000, part_id="P1", reason="ng")
    bad = _tampered(sample(3, JPEG, ts_ms=6000, part_id="P2"), JPEG + b"!")
    # when it uploads the batch
    answer = js(upload(client, token, [inspection(1), good, bad]))
    # then every record is acked, the bad sample is refused with the reason and the rest is stored
    assert answer["acked"] == [1, 2, 3]
    [refused] = answer["rejected"]
    assert refused["seq"] == 3 and f"does not match input_sha256 {digest}" in refused["reason"]
    [stored] = stored_samples(app)
    assert (stored.seq, stored.input_sha256, stored.size) == (2, digest, len(JPEG))
    # and the bytes sit in the artifact store under their content address
    artifacts = Path(settings_values["state_dir"]) / "artifacts"
    assert (artifacts / "samples" / digest[:2] / digest).read_bytes() == JPEG
    # and the metadata carries the provenance; the content comes back as captured
    meta = js(client.get(f"/api/v1/samples/{stored.id}", headers=ADMIN))
    assert (meta["device"], meta["source"], meta["part_id"], meta["ts_ms"], meta["reason"]) == (
        "gw-1",
        "cam-1",
        "P1",
        5000,
        "ng",
    )
    assert (meta["model"], meta["version"], meta["predicted"], meta["content_type"]) == (
        "surface-inspection",
        "1.0.0",
        "scratch",
        "image/jpeg",
    )
    assert meta["provenance"]["scores"] == {"ok": 0.2, "scratch": 0.8} and "payload_b64" not in meta["provenance"]
    content = client.get(meta["content_url"], headers=ADMIN)
    assert content.data == JPEG and content.mimetype == "image/jpeg"
    assert content.headers["ETag"] == f'"{digest}"' and content.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get(meta["content_url"], headers={**ADMIN, "If-None-Match": f'"{digest}"'}).status_code == 304
    # when another gateway captures the same bytes, then it gets its own row but the bytes are stored once
    other = add_device(client, "gw-2")
    assert js(upload(client, other, [sample(9, JPEG, ts_ms=7000)], device="gw-2"))["stored"] == 1
    assert [s.device_id for s in stored_samples(app)] == ["gw-1", "gw-2"]
    assert len(list((artifacts / "samples").rglob("*"))) == 2  # one directory, one file


def test_samples_can_live_in_s3(
    settings_values: dict[str, Any], s3_endpoint: str, s3_bucket: str, request: pytest.FixtureRequest
) -> None:
    # given a service whose artifact store is an S3 bucket
    settings_values.update(storage_url=f"s3://{s3_bucket}/cloud", s3_endpoint_url=s3_endpoint)
    client = request.getfixturevalue("client")
    token = add_device(client, "gw-1")
    # when a gateway uploads a sample
    assert js(upload(client, token, [sample(1, JPEG, ts_ms=5000)]))["stored"] == 1
    # then its bytes are an object under the content address, served back through the API
    digest = hashlib.sha256(JPEG).hexdigest()
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    assert s3.get_object(Bucket=s3_bucket, Key=f"cloud/samples/{digest[:2]}/{digest}")["Body"].read() == JPEG
    [listed] = js(client.get("/api/v1/samples", headers=ADMIN))
    assert client.get(listed["content_url"], headers=ADMIN).data == JPEG


WINDOW = b'{"ts_ms":0,"fs_hz":25600,"samples_b64":"AAAA"}'


def _join_case() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Samples and labels: by part id, by time (nearest wins), too far away, another part."""
    samples = [
        sample(10, JPEG, ts_ms=10_000, part_id="P1", reason="ng"),
        sample(12, WINDOW + b"2", ts_ms=50_000, source="pump-1", reason="audit", content_type="application/json"),
        sample(14, WINDOW + b"3", ts_ms=60_000, source="pump-1", reason="audit", content_type="application/json"),
        sample(15, WINDOW + b"4", ts_ms=61_000, source="pump-1", reason="fault", content_type="application/json"),
    ]
    labels = [
        label(11, "scratch", part_id="P1"),
        label(13, "outer_race", source="pump-1", ts_ms=51_500),
        label(16, "inner_race", source="pump-1", ts_ms=60_800),
        label(17, "ball", source="pump-1", ts_ms=70_000),
        label(18, "pit", part_id="P9", ts_ms=10_000),
    ]
    return samples, labels


def _labels_of(client: FlaskClient, device: str) -> dict[int, str | None]:
    return {s["ts_ms"]: s["label"] for s in js(client.get(f"/api/v1/samples?device={device}", headers=ADMIN))}


def test_a_label_joins_its_sample_whichever_arrives_first(client: FlaskClient) -> None:
    samples, labels = _join_case()
    tokens = {device: add_device(client, device) for device in ("gw-1", "gw-2", "gw-3")}
    # when gw-1 uploads the samples before the labels, gw-2 the labels first (events drain before samples),
    # and gw-3 everything in one batch
    for batch in (samples, labels):
        assert upload(client, tokens["gw-1"], batch, device="gw-1").status_code == 200
    for batch in (labels, samples):
        assert upload(client, tokens["gw-2"], batch, device="gw-2").status_code == 200
    assert upload(client, tokens["gw-3"], labels + samples, device="gw-3").status_code == 200
    # then every gateway's samples carry the same labels: by part id, else the nearest time within 2 s
    expected = {10_000: "scratch", 50_000: "outer_race", 60_000: None, 61_000: "inner_race"}
    for device in tokens:
        assert _labels_of(client, device) == expected, device
    # and the label came from the gateway's PLC, as its history says
    first = js(client.get("/api/v1/samples?device=gw-2&limit=1", headers=ADMIN))[0]
    detail = js(client.get(f"/api/v1/samples/{first['id']}", headers=ADMIN))
    assert (detail["label_origin"], detail["labelled_by"]) == ("plc", "gw-2")
    assert [(h["label"], h["via"]) for h in detail["labels"]] == [("scratch", "record")]
    # when the sample for the waiting label arrives later, it joins then
    late = sample(19, WINDOW + b"5", ts_ms=69_000, source="pump-1", reason="audit", content_type="application/json")
    upload(client, tokens["gw-2"], [late], device="gw-2")
    assert _labels_of(client, "gw-2")[69_000] == "ball"


def test_a_cloud_labeller_confirms_or_corrects_and_the_history_is_kept(client: FlaskClient) -> None:
    # given samples of two models: one unlabelled, one captured with the label that disagreed with the model
    token = add_device(client, "gw-1")
    batch = [
        sample(1, JPEG, ts_ms=1000, part_id="P1", reason="ng"),
        sample(2, JPEG + b"2", ts_ms=2000, part_id="P2", reason="disagreement", label="ok"),
        sample(3, WINDOW, ts_ms=3000, source="pump-1", reason="fault", content_type="application/json", model=BH),
    ]
    upload(client, token, batch)

    def ids(arguments: str) -> list[int]:
        return [s["seq"] for s in js(client.get(f"/api/v1/samples?{arguments}", headers=ADMIN))]

    # when a labeller lists what needs labels, then the filters pick the right samples
    assert ids("labelled=false") == [1, 3]
    assert ids("model=surface-inspection&labelled=true") == [2]
    assert ids("reason=fault") == [3]
    first_page = js(client.get("/api/v1/samples?limit=2", headers=ADMIN))
    assert [s["seq"] for s in first_page] == [1, 2] and ids(f"after_id={first_page[-1]['id']}") == [3]
    one, two = first_page
    # when alice labels the first and bob corrects the second
    url_one, url_two = f"/api/v1/samples/{one['id']}/label", f"/api/v1/samples/{two['id']}/label"
    labelled = client.post(url_one, json={"label": "scratch", "by": "alice"}, headers=ADMIN)
    corrected = client.post(url_two, json={"label": "pit", "by": "bob"}, headers=ADMIN)
    # then the current labels are theirs, and the history keeps who said what
    assert labelled.status_code == 200 and (js(labelled)["label"], js(labelled)["labelled_by"]) == ("scratch", "alice")
    assert [(h["label"], h["via"], h["by"]) for h in js(corrected)["labels"]] == [
        ("ok", "sample", "gw-1"),
        ("pit", "cloud", "bob"),
    ]
    # when the gateway later sends a label of its own for the corrected sample, the cloud label still wins
    upload(client, token, [label(4, "ok", part_id="P2", ts_ms=2000)])
    detail = js(client.get(f"/api/v1/samples/{two['id']}", headers=ADMIN))
    assert (detail["label"], detail["label_origin"], len(detail["labels"])) == ("pit", "cloud", 3)
    # and mistakes are refused with the reason; devices may not label
    missing = client.post("/api/v1/samples/999/label", json={"label": "ok", "by": "x"}, headers=ADMIN)
    assert missing.status_code == 404
    no_name = client.post(url_one, json={"label": "ok"}, headers=ADMIN)
    assert no_name.status_code == 400 and "by: Field required" in js(no_name)["detail"]
    bad = client.get("/api/v1/samples?labelled=maybe", headers=ADMIN)
    assert bad.status_code == 400 and "labelled" in js(bad)["detail"]
    as_device = client.post(
        f"/api/v1/samples/{one['id']}/label", json={"label": "ok", "by": "x"}, headers=bearer(token)
    )
    assert as_device.status_code == 403


def test_a_sample_captured_with_a_label_is_labelled_at_once_until_a_later_label_record_joins_it(
    client: FlaskClient,
) -> None:
    # given a gateway that captured two samples, one with the label that disagreed with the model
    token = add_device(client, "gw-1")
    upload(client, token, [sample(1, JPEG, ts_ms=1000, part_id="P1"), sample(2, JPEG + b"2", ts_ms=2000, label="ok")])
    # then the labelled one is labelled by its capture, the other not at all
    listed = {s["seq"]: s for s in js(client.get("/api/v1/samples", headers=ADMIN))}
    assert (listed[2]["label"], listed[2]["label_origin"], listed[2]["labelled_by"]) == ("ok", "capture", "gw-1")
    assert (listed[1]["label"], listed[1]["label_origin"], listed[1]["labelled_by"]) == (None, None, None)
    # when a label record of a later outbox seq arrives for each (by part id, and by time within 2 s)
    upload(client, token, [label(3, "scratch", part_id="P1"), label(4, "dent", ts_ms=2500)])
    # then both samples carry the record's label (the newest gateway word wins over the capture's)
    listed = {s["seq"]: s for s in js(client.get("/api/v1/samples", headers=ADMIN))}
    assert (listed[1]["label"], listed[1]["label_origin"]) == ("scratch", "plc")
    assert (listed[2]["label"], listed[2]["label_origin"]) == ("dent", "plc")

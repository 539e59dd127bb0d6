"""Stored telemetry for queries: filtered listings and result counts per model version and device (admin only)."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from tests.cloud_sync.batchtools import BH, QI, event, health, inspection, label, upload
from tests.cloud_sync.helpers import ADMIN, add_device, bearer, js

QI_11 = {**QI, "version": "1.1.0"}


def _fleet(client: FlaskClient) -> None:
    """gw-1: inspections of two versions, health, an event, a label; gw-2: inspections of 1.1.0."""
    token_1, token_2 = add_device(client, "gw-1"), add_device(client, "gw-2")
    batch_1 = [inspection(1), inspection(2, "ng"), inspection(3, model=QI_11), health(4), health(5, "outer_race")]
    batch_1 += [event(6, "ota_state"), label(7, "scratch", part_id="P2")]
    assert upload(client, token_1, batch_1, drops={"ok_result": 4}).status_code == 200
    batch_2 = [inspection(seq, "ng" if seq % 2 else "ok", camera="cam-9", model=QI_11) for seq in range(1, 6)]
    assert upload(client, token_2, batch_2, device="gw-2").status_code == 200


def test_telemetry_is_queryable_by_device_stream_kind_model_and_time(client: FlaskClient) -> None:
    # given results, health, events and labels from two gateways
    _fleet(client)

    def query(arguments: str) -> list[dict[str, Any]]:
        answer = client.get(f"/api/v1/telemetry?{arguments}", headers=ADMIN)
        assert answer.status_code == 200, js(answer)
        return list(js(answer))

    # when an admin lists one device's records, then they come newest first with their key fields
    everything = query("device=gw-1")
    assert [row["seq"] for row in everything] == [7, 6, 5, 4, 3, 2, 1]
    ng = next(row for row in everything if row["seq"] == 2)
    assert (ng["kind"], ng["source"], ng["part_id"], ng["verdict"], ng["label"]) == (
        "inspection",
        "cam-1",
        "P2",
        "ng",
        "scratch",
    )
    assert (ng["model"], ng["version"], ng["document"]["margin"]) == ("surface-inspection", "1.0.0", 0.5)
    fault = next(row for row in everything if row["seq"] == 5)
    assert (fault["kind"], fault["state"], fault["anomaly_score"]) == ("health", "outer_race", 0.25)
    assert next(row for row in everything if row["seq"] == 6)["event_type"] == "ota_state"
    assert next(row for row in everything if row["seq"] == 7)["label"] == "scratch"
    # and each filter narrows the list
    assert {row["device"] for row in query("kind=inspection")} == {"gw-1", "gw-2"}
    assert len(query("kind=inspection")) == 8
    assert [row["seq"] for row in query("stream=health/pump-1")] == [5, 4]
    assert len(query("model=surface-inspection&device=gw-2")) == 5
    assert [row["seq"] for row in query("device=gw-1&since_ms=1700000000005")] == [7, 6, 5]
    assert len(query("limit=2")) == 2
    # and bad parameters are refused with the reason; device tokens may not query
    for arguments, reason in (("limit=0", "limit"), ("since_ms=x", "since_ms"), ("devic=gw-1", "unknown query")):
        answer = client.get(f"/api/v1/telemetry?{arguments}", headers=ADMIN)
        assert answer.status_code == 400 and reason in js(answer)["detail"]
    token = js(client.post("/api/v1/devices/gw-1/token", headers=ADMIN))["token"]
    assert client.get("/api/v1/telemetry", headers=bearer(token)).status_code == 403


def test_the_summary_counts_verdicts_and_states_per_model_version_and_device(client: FlaskClient) -> None:
    # given results of two models, two versions and two gateways
    _fleet(client)
    # when an admin asks for the summary of the inspection model
    answer = js(client.get("/api/v1/telemetry/summary?model=surface-inspection", headers=ADMIN))
    # then each version has its counts per verdict, in total and per device
    assert answer["model"] == "surface-inspection"
    assert [(group["version"], group["total"], group["counts"]) for group in answer["models"]] == [
        ("1.0.0", 2, {"ng": 1, "ok": 1}),
        ("1.1.0", 6, {"ng": 3, "ok": 3}),
    ]
    assert answer["models"][1]["devices"] == [
        {"device": "gw-1", "total": 1, "counts": {"ok": 1}},
        {"device": "gw-2", "total": 5, "counts": {"ng": 3, "ok": 2}},
    ]
    # and the gateways' drop counters come along
    assert answer["drops"] == {"gw-1": {"ok_result": 4}}
    # when it asks for everything since a time, health states are counted too
    recent = js(client.get("/api/v1/telemetry/summary?since_ms=1700000000004", headers=ADMIN))
    health_group = next(group for group in recent["models"] if group["model"] == BH["name"])
    assert (health_group["kind"], health_group["counts"]) == ("health", {"healthy": 1, "outer_race": 1})
    assert sum(group["total"] for group in recent["models"]) == 4  # gw-1's seq 4 and 5, gw-2's seq 4 and 5


def test_given_a_gateway_baseline_record_then_it_is_kept_as_telemetry_and_the_latest_per_asset_is_queryable(
    client: FlaskClient,
) -> None:
    from tests.cloud_sync.batchtools import record

    token = add_device(client, "gw-1")
    learned = {
        "asset": "pump-1",
        "state": "learned",
        "reason": None,
        "model": {"name": "bearing-health", "version": "1.0.0"},
        "decided_ms": 1_700_000_000_001,
        "summary": {"iso_zone": "A"},
        "baseline": {},
    }
    refused = {**learned, "asset": "fan-1", "state": "refused", "reason": "velocity 9.0 mm/s RMS is ISO zone D"}
    batch = [record("baseline/pump-1", 1, learned, "event"), record("baseline/fan-1", 2, refused, "event")]
    assert upload(client, token, batch).status_code == 200
    rows = js(client.get("/api/v1/telemetry?kind=baseline&stream=baseline/fan-1&limit=1", headers=ADMIN))
    assert [(r["source"], r["state"], r["document"]["reason"]) for r in rows] == [
        ("fan-1", "refused", "velocity 9.0 mm/s RMS is ISO zone D")
    ]
    assert {r["source"] for r in js(client.get("/api/v1/telemetry?kind=baseline", headers=ADMIN))} == {
        "pump-1",
        "fan-1",
    }

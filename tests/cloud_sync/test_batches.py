"""Outbox batch intake: stored once per (device, stream, seq), replays and concurrent repeats acked, strict envelope."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.cloud_sync.batchtools import event, health, inspection, record, stored_keys, upload
from tests.cloud_sync.helpers import ADMIN, add_device, bearer, js


def test_a_replayed_batch_is_acknowledged_again_and_stored_once(app: Flask, client: FlaskClient) -> None:
    # given a gateway with a batch of results and events, and its outbox drop counters
    token = add_device(client, "gw-1")
    batch = [inspection(1), inspection(2, "ng"), health(3), event(4)]
    # when it uploads the batch, and again because the first answer was lost
    first = upload(client, token, batch, drops={"sample": 2, "ok_result": 0})
    replay = upload(client, token, batch, drops={"sample": 5, "ok_result": 1})
    # then both answers acknowledge every seq, and the records are stored once
    assert first.status_code == 200 and replay.status_code == 200
    assert js(first) == {"acked": [1, 2, 3, 4], "stored": 4, "duplicates": 0, "rejected": []}
    assert js(replay) == {"acked": [1, 2, 3, 4], "stored": 0, "duplicates": 4, "rejected": []}
    # when a later batch overlaps the first (records the gateway had not seen acknowledged) and adds new ones
    overlap = upload(client, token, [health(3), event(4), health(5), inspection(6)])
    # then only the new ones are stored
    assert js(overlap)["acked"] == [3, 4, 5, 6] and js(overlap)["stored"] == 2
    keys = stored_keys(app)
    assert len(keys) == len(set(keys)) == 6
    assert ("gw-1", "health/pump-1", 5) in keys and ("gw-1", "events", 4) in keys
    # and the drop counters hold the latest value the gateway sent
    assert js(client.get("/api/v1/devices/gw-1", headers=ADMIN))["outbox_drops"] == {"ok_result": 1, "sample": 5}


def test_two_concurrent_uploads_of_the_same_batch_store_it_once(app: Flask, client: FlaskClient) -> None:
    # given a gateway and a large batch (the same (stream, seq) keys on two connections at once)
    token = add_device(client, "gw-1")
    answers: list[dict[str, Any]] = []
    for round_ in range(2):
        batch = [health(round_ * 10_000 + seq) for seq in range(1, 1501)]
        barrier = threading.Barrier(2)

        def send(batch: list[dict[str, Any]] = batch, barrier: threading.Barrier = barrier) -> None:
            own_client = app.test_client()
            barrier.wait()
            answer = upload(own_client, token, batch)
            assert answer.status_code == 200, answer.get_data(as_text=True)
            answers.append(js(answer))

        # when the batch is sent twice at the same moment (a retry racing the original)
        threads = [threading.Thread(target=send) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    # then each answer acknowledges every seq, and between them each record was stored exactly once
    assert len(answers) == 4
    for pair in (answers[:2], answers[2:]):
        assert all(len(answer["acked"]) == 1500 for answer in pair)
        assert sorted(answer["stored"] for answer in pair) == [0, 1500]
    keys = stored_keys(app)
    assert len(keys) == len(set(keys)) == 3000


def test_a_device_may_upload_only_for_itself(app: Flask, client: FlaskClient) -> None:
    # given two gateways
    token_1 = add_device(client, "gw-1")
    add_device(client, "gw-2")
    # when gw-1's token, the admin token and no token upload for gw-2
    as_other = upload(client, token_1, [health(1)], device="gw-2")
    as_admin = client.post("/api/v1/devices/gw-2/batches", json={"records": [health(1)]}, headers=ADMIN)
    anonymous = client.post("/api/v1/devices/gw-2/batches", json={"records": [health(1)]})
    # then they are refused and nothing is stored
    assert as_other.status_code == 403 and js(as_other)["error"] == "forbidden"
    assert as_admin.status_code == 403
    assert anonymous.status_code == 401
    assert stored_keys(app) == []


def _good() -> dict[str, Any]:
    return health(1)


MALFORMED: list[tuple[Any, str]] = [
    (b"{not json", "body is not valid JSON"),
    ({"drops": {}}, "records: Field required"),
    ({"records": [], "extra": 1}, "extra: Extra inputs are not permitted"),
    ({"records": [_good(), {**health(2), "seq": "2"}]}, "records.1.seq: Input should be a valid integer"),
    ({"records": [_good(), {**health(2), "seq": 0}]}, "records.1.seq: Input should be greater than or equal to 1"),
    ({"records": [_good(), {**health(2), "stream": "Health/pump 1"}]}, "records.1.stream: String should match"),
    ({"records": [_good(), {k: v for k, v in health(2).items() if k != "ts_ms"}]}, "records.1.ts_ms: Field required"),
    ({"records": [_good(), {**health(2), "body_b64": "%%%"}]}, "records.1.body_b64: not valid base64"),
    ({"records": [_good(), {**health(1), "stream": "events"}]}, "records.1.seq: 1 already used by records.0"),
    ({"records": [_good()], "drops": {"sample": -1}}, "drops.sample: Input should be greater than or equal to 0"),
    ({"records": [_good()], "drops": {"No Class": 1}}, "drops.No Class.[key]: String should match"),
    ({"records": {"stream": "events"}}, "records: Input should be a valid list"),
]


def test_malformed_batches_are_refused_with_the_reason_and_nothing_is_stored(app: Flask, client: FlaskClient) -> None:
    # given a gateway
    token = add_device(client, "gw-1")
    for body, reason in MALFORMED:
        # when it sends a batch whose envelope is malformed (its first record is fine)
        kwargs: dict[str, Any] = {"data": body} if isinstance(body, bytes) else {"json": body}
        answer = client.post("/api/v1/devices/gw-1/batches", headers=bearer(token), **kwargs)
        # then the answer is 400 and says what is wrong
        assert answer.status_code == 400, (body, answer.get_data(as_text=True))
        assert js(answer)["error"] == "bad_request"
        assert reason in js(answer)["detail"], (reason, js(answer)["detail"])
    # and nothing of any of them was stored, not even the drop counters
    assert stored_keys(app) == []
    assert js(client.get("/api/v1/devices/gw-1", headers=ADMIN))["outbox_drops"] == {}


def test_batches_over_the_limits_are_refused(settings_values: dict[str, Any], request: pytest.FixtureRequest) -> None:
    # given a service that takes at most 3 records and 2 KiB per batch
    settings_values.update(max_batch_records=3, max_batch_bytes=2048)
    app: Flask = request.getfixturevalue("app")
    client = app.test_client()
    token = add_device(client, "gw-1")
    # when a gateway sends 4 records, or 3 records in more than 2 KiB
    too_many = upload(client, token, [health(seq) for seq in range(1, 5)])
    too_big = upload(client, token, [record("events", seq, {"type": "x", "pad": "x" * 900}) for seq in range(1, 4)])
    # then both are 413 with the limit named, and nothing is stored; a batch within the limits is fine
    assert too_many.status_code == 413 and "at most 3 per batch" in js(too_many)["detail"]
    assert too_big.status_code == 413 and js(too_big)["error"] == "too_large"
    assert stored_keys(app) == []
    assert upload(client, token, [health(seq) for seq in range(1, 4)]).status_code == 200


def test_unusable_records_are_refused_alone_and_other_streams_are_kept(app: Flask, client: FlaskClient) -> None:
    # given a gateway whose batch holds a good result, a body that is not JSON, a label without its label,
    # and a record of a stream this cloud does not know yet
    token = add_device(client, "gw-1")
    batch = [
        inspection(1),
        record("events", 2, b"\x00garbage"),
        record("labels/cam-1", 3, {"source": "cam-1", "part_id": "P1"}, "event"),
        record("metrics/cpu", 4, {"ts_ms": 1, "value": 0.5}),
    ]
    # when it uploads the batch
    answer = upload(client, token, batch)
    # then every record is acknowledged; the unusable ones are listed with their reason
    assert answer.status_code == 200
    assert js(answer)["acked"] == [1, 2, 3, 4] and js(answer)["stored"] == 4
    rejected = {item["seq"]: item["reason"] for item in js(answer)["rejected"]}
    assert rejected == {2: "body is not UTF-8 JSON", 3: "label document: label: Field required"}
    # and they are kept as refused in the ledger (a replay does not refuse them again), the rest as data
    kinds = {row["seq"]: row["kind"] for row in js(client.get("/api/v1/telemetry", headers=ADMIN))}
    assert kinds == {1: "inspection", 2: "rejected", 3: "rejected", 4: "metrics"}
    assert js(upload(client, token, batch))["rejected"] == []


def test_every_column_of_the_ledger_holds_exactly_what_was_sent(client: FlaskClient) -> None:
    # given a gateway whose records carry quotes, backslashes, non-ASCII text, an escaped NUL, big numbers and nulls
    # (PostgreSQL takes a batch as one JSON document: nothing may be lost or re-escaped on the way)
    token = add_device(client, "gw-1")
    awkward = {
        "ts_ms": 1,
        "part_id": 'P"1\\x',
        "camera": "cam-1",
        "verdict": "ng",
        "label": "Kratzer \u00e4\u00f6 \u2713 \U0001f527",
        "anomaly_score": 0.1 + 0.2,
        "model": {"name": "surface-inspection", "version": "1.0.0"},
        "note": "a\u0000b \\u0000 {}[],:",
    }
    batch = [
        record("inspection/cam-1", 2**53 + 1, awkward, "ng_result", ts_ms=2**62),
        record("events", 7, {"ts_ms": 2, "type": "queue_drop", "anomaly_score": None}, "event"),
    ]
    # when it uploads them
    assert js(upload(client, token, batch))["stored"] == 2
    # then the stored documents and key columns are the very values sent
    rows = {row["seq"]: row for row in js(client.get("/api/v1/telemetry", headers=ADMIN))}
    first = rows[2**53 + 1]
    assert first["document"] == awkward and first["ts_ms"] == 2**62
    assert (first["part_id"], first["label"], first["anomaly_score"]) == ('P"1\\x', awkward["label"], 0.1 + 0.2)
    assert (first["model"], first["version"], first["kind"], first["source"]) == (
        "surface-inspection",
        "1.0.0",
        "inspection",
        "cam-1",
    )
    assert rows[7]["event_type"] == "queue_drop" and rows[7]["anomaly_score"] is None and rows[7]["source"] is None

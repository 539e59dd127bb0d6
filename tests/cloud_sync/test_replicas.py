"""Two real replicas (gunicorn, 2 workers each) on one PostgreSQL and one S3 (moto): nothing depends on which
replica a request reaches, and killing one loses nothing it acknowledged."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import httpx
import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.cloud_sync.batchtools import health, inspection, label, sample
from tests.cloud_sync.helpers import ADMIN, ADMIN_TOKEN, bearer
from tests.cloud_sync.pg import PostgresCluster, free_port
from tests.cloud_sync.pkgtools import MODEL, make_package, tar_dir
from tests.cloud_sync.replicas import Replica, start_ready, write_config

S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
# The retrain command stands in for training (the `train` extra is not part of the test install): it logs its
# start and end to a file, so the test sees who ran a job and whether a run was cut short.
JOB = (
    "import os, sys, time; log = open(sys.argv[2], 'a', buffering=1);"
    " log.write(f'start {sys.argv[1]} {os.getpid()}\\n'); time.sleep(2.5);"
    " log.write(f'done {sys.argv[1]} {os.getpid()}\\n')"
)


def _cluster(root: Path, postgres: PostgresCluster, s3_endpoint: str) -> Iterator[tuple[list[Replica], str, Path]]:
    root.mkdir(parents=True, exist_ok=True)
    key = root / "fleet.key"
    key.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key.chmod(0o600)
    bucket = f"fleet-{free_port()}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", **_keys()).create_bucket(Bucket=bucket)
    database = postgres.create_database()
    runs = root / "runs.log"
    config = write_config(
        root / "cloud-sync.yaml",
        {
            "database_url": postgres.url(database),
            "storage_url": f"s3://{bucket}/fleet",
            "s3_endpoint_url": s3_endpoint,
            "s3_region": "us-east-1",
            "signing_key_path": key,
            "admin_token": ADMIN_TOKEN,
            "workers": 2,
            "threads": 4,
            "job_poll_s": 0.2,
            "job_lease_s": 3.0,  # renewed every second: generous for a loaded CI machine
            "retrain_command": [sys.executable, "-c", JOB, "{job}", str(runs)],
        },
    )
    replicas = start_ready(config, root, 2, S3_ENV)
    try:
        yield replicas, postgres.url(database).replace("+psycopg", ""), runs
    finally:
        for replica in replicas:
            replica.kill()  # nothing is checked after the test: no need to wait for a graceful stop
        postgres.drop_database(database)


def _keys() -> dict[str, str]:
    return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture(scope="module")
def shared(
    tmp_path_factory: pytest.TempPathFactory, postgres: PostgresCluster, s3_endpoint: str
) -> Iterator[tuple[list[Replica], str, Path]]:
    """Two replicas for the tests that kill none (each test uses its own devices and group)."""
    yield from _cluster(tmp_path_factory.mktemp("replicas"), postgres, s3_endpoint)


@pytest.fixture
def pair(tmp_path: Path, postgres: PostgresCluster, s3_endpoint: str) -> Iterator[tuple[list[Replica], str, Path]]:
    """Two fresh replicas for a test that kills one."""
    yield from _cluster(tmp_path, postgres, s3_endpoint)


def _scalar(dsn: str, query: str, *params: Any) -> Any:
    with psycopg.connect(dsn) as connection:
        row = connection.execute(query, params or None).fetchone()
    assert row is not None
    return row[0]


def _add_devices(url: str, prefix: str, count: int, group: str) -> dict[str, str]:
    tokens = {}
    for index in range(count):
        device = f"{prefix}-{index:02d}"
        answer = httpx.post(f"{url}/api/v1/devices", json={"id": device, "group": group}, headers=ADMIN, timeout=30)
        assert answer.status_code == 201, answer.text
        tokens[device] = answer.json()["token"]
    return tokens


def _publish(url: str, root: Path, version: str) -> None:
    package = make_package(root / f"pkg-{version}-{time.monotonic_ns()}", version)
    answer = httpx.post(f"{url}/api/v1/models", content=tar_dir(package), headers=ADMIN, timeout=60)
    assert answer.status_code in (200, 201), answer.text


def _at_once(calls: list[tuple[str, str, dict[str, Any], dict[str, str]]]) -> list[httpx.Response]:
    """POST every (url, path, json, headers) at the same instant from its own thread."""
    barrier = threading.Barrier(len(calls))

    def send(call: tuple[str, str, dict[str, Any], dict[str, str]]) -> httpx.Response:
        url, path, body, headers = call
        with httpx.Client(base_url=url, timeout=60) as client:
            barrier.wait()
            return client.post(path, json=body, headers=headers)

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(send, calls))


def test_the_same_batch_sent_to_both_replicas_at_once_is_stored_once(
    shared: tuple[list[Replica], str, Path],
) -> None:
    # given a gateway and two replicas
    (a, b), dsn, _ = shared
    token = _add_devices(a.url, "dup", 1, "dup")["dup-00"]
    path, headers = "/api/v1/devices/dup-00/batches", bearer(token)
    for round_ in range(3):
        first = round_ * 100 + 1
        records = [inspection(seq) for seq in range(first, first + 96)] + [health(first + 96)]
        records += [sample(first + 97, f"bytes {round_}".encode(), 1_700_000_000_000 + first, part_id=f"R{round_}")]
        records += [label(first + 98, "scratch", part_id=f"R{round_}"), label(first + 99, "ok", ts_ms=1)]
        # when the same batch reaches both replicas at the same instant (a retry after a lost answer)
        answers = _at_once([(a.url, path, {"records": records}, headers), (b.url, path, {"records": records}, headers)])
        # then both acknowledge every record, and together they stored each record once
        assert [answer.status_code for answer in answers] == [200, 200], [answer.text for answer in answers]
        assert all(answer.json()["acked"] == [r["seq"] for r in records] for answer in answers)
        assert sum(answer.json()["stored"] for answer in answers) == 100
    assert _scalar(dsn, "SELECT count(*) FROM telemetry WHERE device_id = 'dup-00'") == 300
    assert _scalar(dsn, "SELECT count(*) FROM samples WHERE device_id = 'dup-00' AND label = 'scratch'") == 3
    assert _scalar(dsn, "SELECT count(*) FROM sample_labels WHERE device_id = 'dup-00'") == 6


def _rollout(url: str, rollout_id: int) -> dict[str, Any]:
    answer = httpx.get(f"{url}/api/v1/rollouts/{rollout_id}", headers=ADMIN, timeout=30)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _commit_at_once(replicas: list[Replica], tokens: dict[str, str], devices: list[str], version: str) -> None:
    """Every device reports committed to every replica at the same instant (retries crossing each other)."""
    ts_ms = time.time_ns() // 1_000_000
    calls = [
        (replica.url, f"/api/v1/devices/{device}/report", body, bearer(tokens[device]))
        for device in devices
        for body in ({"name": MODEL, "version": version, "state": "committed", "ts_ms": ts_ms},)
        for replica in replicas
    ]
    assert {answer.status_code for answer in _at_once(calls)} == {204}


def _setup_rollout(shared: tuple[list[Replica], str, Path], group: str, version: str) -> tuple[dict[str, str], int]:
    (a, _), _, root = shared
    tokens = _add_devices(a.url, group, 6, group)
    _publish(a.url, root.parent, version)
    body = {"model": MODEL, "version": version, "group": group, "canary_percent": 30, "wave_percent": 30}
    answer = httpx.post(f"{a.url}/api/v1/rollouts", json=body, headers=ADMIN, timeout=30)
    assert answer.status_code == 201, answer.text
    return tokens, int(answer.json()["id"])


def test_a_wave_advances_once_when_its_last_reports_race_on_both_replicas(
    shared: tuple[list[Replica], str, Path],
) -> None:
    # given a rollout to 6 devices in waves of 2, 2 and 2
    replicas = shared[0]
    tokens, rollout_id = _setup_rollout(shared, "waves", "2.0.0")
    devices = sorted(tokens)
    for wave in range(3):
        # when the devices of the open wave report committed to both replicas at once
        _commit_at_once(replicas, tokens, devices[2 * wave : 2 * wave + 2], "2.0.0")
        # then exactly the next wave opened (none skipped), seen alike through either replica
        seen = [_rollout(replica.url, rollout_id) for replica in replicas]
        assert seen[0] == seen[1]
        if wave < 2:
            assert seen[0]["current_wave"] == wave + 1 and seen[0]["state"] == "active"
            assert seen[0]["waves"][wave + 1]["counts"] == {"offered": 2}
            assert all(w["counts"] == {"pending": 2} for w in seen[0]["waves"][wave + 2 :])
    assert seen[0]["state"] == "completed" and seen[0]["counts"] == {"committed": 6}


def test_a_rollout_paused_on_one_replica_is_paused_on_the_other(shared: tuple[list[Replica], str, Path]) -> None:
    # given an active rollout
    (a, b), _, _ = shared
    tokens, rollout_id = _setup_rollout(shared, "pausing", "3.0.0")
    devices = sorted(tokens)
    # when an operator pauses it through replica A
    assert httpx.post(f"{a.url}/api/v1/rollouts/{rollout_id}/pause", headers=ADMIN, timeout=30).status_code == 200
    # then replica B reports it paused, and the canary committing through B opens no wave
    assert _rollout(b.url, rollout_id)["state"] == "paused"
    _commit_at_once([b], tokens, devices[:2], "3.0.0")
    seen = _rollout(b.url, rollout_id)
    assert (seen["state"], seen["current_wave"]) == ("paused", 0)
    second_wave = devices[2]
    desired = httpx.get(f"{b.url}/api/v1/devices/{second_wave}/desired", headers=bearer(tokens[second_wave]))
    assert desired.json()["models"] == []
    # and resuming through B opens the next wave on A
    assert httpx.post(f"{b.url}/api/v1/rollouts/{rollout_id}/resume", headers=ADMIN, timeout=30).status_code == 200
    seen = _rollout(a.url, rollout_id)
    assert (seen["state"], seen["current_wave"]) == ("active", 1)
    desired = httpx.get(f"{a.url}/api/v1/devices/{second_wave}/desired", headers=bearer(tokens[second_wave]))
    assert [entry["version"] for entry in desired.json()["models"]] == ["3.0.0"]


def _batches(device: str) -> list[list[dict[str, Any]]]:
    return [[inspection(n * 50 + seq) for seq in range(1, 51)] for n in range(30)]


def test_a_replica_killed_mid_batch_loses_nothing_it_acknowledged(pair: tuple[list[Replica], str, Path]) -> None:
    # given four gateways uploading batches back to back through replica A
    (a, b), dsn, _ = pair
    tokens = _add_devices(a.url, "kill", 4, "kill")
    acked: dict[str, set[int]] = {device: set() for device in tokens}
    started = threading.Event()

    def gateway(device: str) -> None:
        with httpx.Client(base_url=a.url, timeout=30, headers=bearer(tokens[device])) as client:
            for batch in _batches(device):
                try:
                    answer = client.post(f"/api/v1/devices/{device}/batches", json={"records": batch})
                except httpx.HTTPError:
                    return  # the replica died under this request: not acknowledged, the gateway keeps it
                assert answer.status_code == 200, answer.text
                acked[device].update(answer.json()["acked"])
                started.set()

    threads = [threading.Thread(target=gateway, args=(device,)) for device in tokens]
    for thread in threads:
        thread.start()
    # when replica A is SIGKILLed (master, workers) while batches are in flight
    assert started.wait(30)
    time.sleep(0.3)
    a.kill()
    for thread in threads:
        thread.join(timeout=60)
    # then every record A acknowledged is in the database
    total_acked = sum(len(seqs) for seqs in acked.values())
    assert 0 < total_acked < 4 * 1500
    for device, seqs in acked.items():
        stored = _scalar(
            dsn, "SELECT count(*) FROM telemetry WHERE device_id = %s AND seq = ANY(%s)", device, list(seqs)
        )
        assert stored == len(seqs)
    # and the gateways' resend of everything through replica B stores the rest exactly once
    for device, token in tokens.items():
        for batch in _batches(device):
            answer = httpx.post(
                f"{b.url}/api/v1/devices/{device}/batches", json={"records": batch}, headers=bearer(token), timeout=60
            )
            assert answer.status_code == 200, answer.text
    assert _scalar(dsn, "SELECT count(*) FROM telemetry WHERE device_id LIKE 'kill-%%'") == 4 * 1500


def _job(url: str, job_id: int) -> dict[str, Any]:
    answer = httpx.get(f"{url}/api/v1/retrain-jobs/{job_id}", headers=ADMIN, timeout=30)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _wait_job(url: str, job_id: int, done: Any, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = _job(url, job_id)
        if done(job):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} is still {job}")


def test_a_retrain_job_runs_on_one_replica_and_survives_that_replica_being_killed(
    pair: tuple[list[Replica], str, Path],
) -> None:
    # given a published model and both replicas polling the job table
    replicas, _, runs = pair
    _publish(replicas[0].url, runs.parent, "1.0.0")
    # when a retrain job is queued and the replica that claimed it is SIGKILLed mid-run
    answer = httpx.post(f"{replicas[0].url}/api/v1/retrain-jobs", json={"model": MODEL}, headers=ADMIN, timeout=30)
    assert answer.status_code == 201, answer.text
    job_id = int(answer.json()["id"])
    running = _wait_job(replicas[0].url, job_id, lambda job: job["state"] == "running")
    owner_port = int(running["owner"].split(":")[1].split("/")[0])
    (victim,) = [replica for replica in replicas if replica.port == owner_port]
    (survivor,) = [replica for replica in replicas if replica is not victim]
    _wait_job(survivor.url, job_id, lambda _: runs.exists() and "start" in runs.read_text())
    victim.kill()
    # then, once its lease runs out, the other replica claims it again and runs it to the end
    job = _wait_job(survivor.url, job_id, lambda job: job["state"] != "running" or job["attempts"] > 1)
    job = _wait_job(survivor.url, job_id, lambda job: job["state"] == "succeeded")
    assert job["attempts"] == 2 and job["owner"].split(":")[1].startswith(f"{survivor.port}/")
    lines = runs.read_text().splitlines()
    # one run was cut short, one finished; never two at once
    assert [line.split()[0] for line in lines] == ["start", "start", "done"]


def test_replicas_answer_503_while_postgresql_restarts_and_recover_without_a_restart_of_their_own(
    shared: tuple[list[Replica], str, Path], postgres: PostgresCluster
) -> None:
    # given replicas whose connection pools hold connections to PostgreSQL
    replicas = shared[0]
    token = _add_devices(replicas[0].url, "restart", 1, "restart")["restart-00"]
    path, headers = "/api/v1/devices/restart-00/batches", bearer(token)
    for replica in replicas:
        assert httpx.get(f"{replica.url}/api/v1/devices/restart-00/desired", headers=headers).status_code == 200
    # when PostgreSQL stops, then a gateway's upload gets a clear 503 it retries later, not a hang or a 500
    postgres.stop_server()
    try:
        answer = httpx.post(f"{replicas[0].url}{path}", json={"records": [inspection(1)]}, headers=headers)
        assert answer.status_code == 503 and answer.json()["error"] == "database_unavailable"
        assert httpx.get(f"{replicas[1].url}/readyz").status_code == 503
    finally:
        postgres.start_server()
    # and once it is back, both replicas serve again (stale pooled connections are replaced), nothing duplicated
    for replica in replicas:
        answer = httpx.post(f"{replica.url}{path}", json={"records": [inspection(1)]}, headers=headers, timeout=30)
        assert answer.status_code == 200, answer.text
    assert httpx.get(f"{replicas[1].url}/readyz").status_code == 200


def test_a_token_replaced_through_one_replica_stops_working_on_the_other_at_once(
    shared: tuple[list[Replica], str, Path],
) -> None:
    # given a gateway whose token works on both replicas
    (a, b), _, _ = shared
    old = _add_devices(a.url, "revoked", 1, "revoked")["revoked-00"]
    desired = "/api/v1/devices/revoked-00/desired"
    assert httpx.get(f"{b.url}{desired}", headers=bearer(old)).status_code == 200
    # when an operator replaces the token through replica A
    answer = httpx.post(f"{a.url}/api/v1/devices/revoked-00/token", headers=ADMIN, timeout=30)
    assert answer.status_code == 200
    # then replica B refuses the old token with 401 (no cache) and accepts the new one
    refused = httpx.get(f"{b.url}{desired}", headers=bearer(old))
    assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
    assert httpx.get(f"{b.url}{desired}", headers=bearer(answer.json()["token"])).status_code == 200

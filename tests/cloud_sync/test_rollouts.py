"""Rollouts: canary first, waves open on committed, pause on failures, pause/resume, offers in desired."""

from __future__ import annotations

import json
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from cloud_sync.rollouts import plan_waves
from tests.cloud_sync.helpers import ADMIN, add_devices, bearer, desired, js, report, rollout, start_rollout
from tests.cloud_sync.pkgtools import MODEL, make_package, tar_dir


@pytest.fixture
def two_versions(client: FlaskClient, published: Path, tmp_path: Path) -> None:
    """line-qi 1.0.0 and 1.1.0 published."""
    newer = make_package(tmp_path / "newer", "1.1.0")
    assert client.post("/api/v1/models", data=tar_dir(newer), headers=ADMIN).status_code == 201


@pytest.mark.parametrize(
    ("devices", "canary", "wave", "sizes"),
    [(10, 10, 50, [1, 5, 4]), (1, 10, 50, [1]), (3, 0, 100, [1, 2]), (20, 25, 25, [5, 5, 5, 5]), (7, 100, 50, [7])],
)
def test_waves_are_planned_from_the_group_size(devices: int, canary: float, wave: float, sizes: list[int]) -> None:
    # given a group size and percentages, then the canary has at least one device and the waves cover the group
    assert plan_waves(devices, canary, wave) == sizes


def _states(client: FlaskClient, rollout_id: int) -> dict[str, str]:
    return {d["id"]: d["state"] for d in rollout(client, rollout_id)["devices"]}


def test_waves_open_one_after_another_as_devices_commit(client: FlaskClient, two_versions: None) -> None:
    # given ten gateways in line-1 and a rollout of 1.1.0 with a 10% canary and 50% waves
    tokens = add_devices(client, 10)
    created = start_rollout(client, canary_percent=10, wave_percent=50)
    rollout_id = created["id"]
    assert [w["devices"] for w in created["waves"]] == [1, 5, 4]
    # then only the canary is offered the new version
    assert desired(client, "gw-00", tokens["gw-00"])[MODEL]["version"] == "1.1.0"
    assert desired(client, "gw-01", tokens["gw-01"]) == {}
    # when the canary reports progress short of committed, nothing else opens
    report(client, "gw-00", tokens["gw-00"], "downloading", rollout_id=rollout_id)
    report(client, "gw-00", tokens["gw-00"], "probation", rollout_id=rollout_id)
    assert rollout(client, rollout_id)["current_wave"] == 0
    # when it commits, the next wave (5 devices) is offered
    report(client, "gw-00", tokens["gw-00"], "committed", rollout_id=rollout_id)
    states = _states(client, rollout_id)
    assert [states[f"gw-{i:02d}"] for i in range(1, 6)] == ["offered"] * 5
    assert [states[f"gw-{i:02d}"] for i in range(6, 10)] == ["pending"] * 4
    assert desired(client, "gw-01", tokens["gw-01"])[MODEL]["rollout_id"] == rollout_id
    # when four of five commit, the last wave still waits
    for i in range(1, 5):
        report(client, f"gw-{i:02d}", tokens[f"gw-{i:02d}"], "committed", rollout_id=rollout_id)
    assert rollout(client, rollout_id)["current_wave"] == 1
    # when the fifth commits, the last wave opens, and when it commits the rollout is complete
    report(client, "gw-05", tokens["gw-05"], "committed", rollout_id=rollout_id)
    assert rollout(client, rollout_id)["current_wave"] == 2
    for i in range(6, 10):
        report(client, f"gw-{i:02d}", tokens[f"gw-{i:02d}"], "committed", rollout_id=rollout_id)
    done = rollout(client, rollout_id)
    assert done["state"] == "completed"
    assert done["counts"] == {"committed": 10}
    assert js(client.get("/api/v1/devices", headers=ADMIN))[9]["models"] == {MODEL: "1.1.0"}


def test_a_failing_canary_pauses_the_rollout_until_resumed(client: FlaskClient, two_versions: None) -> None:
    # given four gateways running 1.0.0 and a rollout of 1.1.0
    tokens = add_devices(client, 4)
    for device, token in tokens.items():
        report(client, device, token, "committed", version="1.0.0")
    rollout_id = start_rollout(client, canary_percent=25, wave_percent=50, failure_threshold=0.2)["id"]
    # when the canary rolls back with a reason
    report(client, "gw-00", tokens["gw-00"], "rolled_back", reason="probation: p99 412 ms over the 250 ms budget")
    # then the rollout pauses and says why; no further wave opens
    paused = rollout(client, rollout_id)
    assert paused["state"] == "paused"
    assert "1 of 1 offered devices failed" in paused["reason"]
    assert "p99 412 ms" in paused["reason"]
    assert paused["current_wave"] == 0
    # and the canary is told to stay on the version it runs, not to retry the failed one
    assert desired(client, "gw-00", tokens["gw-00"])[MODEL]["version"] == "1.0.0"
    assert desired(client, "gw-01", tokens["gw-01"])[MODEL]["version"] == "1.0.0"
    # when an operator resumes it, the next wave opens (the known failure is accepted)
    assert js(client.post(f"/api/v1/rollouts/{rollout_id}/resume", headers=ADMIN))["state"] == "active"
    assert desired(client, "gw-01", tokens["gw-01"])[MODEL]["version"] == "1.1.0"
    # when a device of that wave fails too, the rollout pauses again
    report(client, "gw-01", tokens["gw-01"], "rejected", reason="selftest: output 0 off by 0.4")
    again = rollout(client, rollout_id)
    assert again["state"] == "paused" and "selftest: output 0 off by 0.4" in again["reason"]


def test_an_operator_can_pause_and_resume(client: FlaskClient, two_versions: None) -> None:
    # given two gateways and a rollout with a one-device canary
    tokens = add_devices(client, 2)
    rollout_id = start_rollout(client, canary_percent=50, wave_percent=50)["id"]
    # when an operator pauses it and the canary then commits
    assert js(client.post(f"/api/v1/rollouts/{rollout_id}/pause", headers=ADMIN))["state"] == "paused"
    report(client, "gw-00", tokens["gw-00"], "committed")
    # then the next wave stays closed
    assert rollout(client, rollout_id)["current_wave"] == 0
    assert desired(client, "gw-01", tokens["gw-01"]) == {}
    # when it is resumed, the waiting wave opens at once
    resumed = js(client.post(f"/api/v1/rollouts/{rollout_id}/resume", headers=ADMIN))
    assert resumed["current_wave"] == 1 and resumed["state"] == "active"
    report(client, "gw-01", tokens["gw-01"], "committed")
    assert rollout(client, rollout_id)["state"] == "completed"
    # and a completed rollout can no longer be paused
    assert client.post(f"/api/v1/rollouts/{rollout_id}/pause", headers=ADMIN).status_code == 409


def test_shadow_thresholds_and_probation_travel_to_the_device(client: FlaskClient, two_versions: None) -> None:
    # given a gateway and a rollout asking for shadow mode and a 600 s probation
    tokens = add_devices(client, 1)
    shadow = {"sample_rate": 0.5, "min_samples": 20, "min_agreement": 0.9, "max_p99_ratio": 1.5, "max_error_rate": 0.0}
    rollout_id = start_rollout(client, shadow=shadow, probation_s=600)["id"]
    # when the gateway polls
    offer = desired(client, "gw-00", tokens["gw-00"])[MODEL]
    # then the offer carries them, with the artifact it must fetch
    assert offer["shadow"] == {**shadow, "timeout_s": 900.0}
    assert offer["probation_s"] == 600
    assert offer["rollout_id"] == rollout_id
    assert offer["artifact_url"] == f"/api/v1/models/{MODEL}/1.1.0/artifact"
    model = next(m for m in js(client.get("/api/v1/models", headers=ADMIN)) if m["version"] == "1.1.0")
    assert (offer["artifact_sha256"], offer["artifact_size"]) == (model["artifact_sha256"], model["artifact_size"])


def test_a_new_rollout_supersedes_the_live_one(client: FlaskClient, two_versions: None, tmp_path: Path) -> None:
    # given a live rollout of 1.1.0 and a newer 1.2.0 published
    tokens = add_devices(client, 2)
    first = start_rollout(client, canary_percent=50)["id"]
    newest = make_package(tmp_path / "newest", "1.2.0")
    assert client.post("/api/v1/models", data=tar_dir(newest), headers=ADMIN).status_code == 201
    # when 1.2.0 is rolled out to the same group
    second = start_rollout(client, version="1.2.0", canary_percent=50)["id"]
    # then the first rollout is superseded and the canary is offered 1.2.0
    assert rollout(client, first)["state"] == "superseded"
    assert desired(client, "gw-00", tokens["gw-00"])[MODEL]["version"] == "1.2.0"
    assert rollout(client, second)["state"] == "active"


def test_rollouts_are_refused_for_unknown_versions_and_empty_groups(client: FlaskClient, two_versions: None) -> None:
    # given a group with one device, and an empty group
    add_devices(client, 1)
    client.post("/api/v1/groups", json={"name": "empty"}, headers=ADMIN)
    body = {"model": MODEL, "version": "1.1.0", "group": "line-1"}
    # when rollouts name an unknown version, an unknown group, an empty group or bad percentages
    unknown_version = client.post("/api/v1/rollouts", json={**body, "version": "9.9.9"}, headers=ADMIN)
    unknown_group = client.post("/api/v1/rollouts", json={**body, "group": "nope"}, headers=ADMIN)
    empty = client.post("/api/v1/rollouts", json={**body, "group": "empty"}, headers=ADMIN)
    bad = client.post("/api/v1/rollouts", json={**body, "canary_percent": 150}, headers=ADMIN)
    # then each is refused with a reason
    assert unknown_version.status_code == 404 and "9.9.9" in js(unknown_version)["detail"]
    assert unknown_group.status_code == 404
    assert empty.status_code == 409 and "no devices" in js(empty)["detail"]
    assert bad.status_code == 400 and "canary_percent" in js(bad)["detail"]


def test_a_device_downloads_only_what_is_offered_to_it(client: FlaskClient, two_versions: None) -> None:
    # given two gateways and a rollout whose canary is gw-00
    tokens = add_devices(client, 2)
    start_rollout(client, canary_percent=50)
    url = f"/api/v1/models/{MODEL}/1.1.0/artifact"
    # when both try to download the artifact
    canary = client.get(url, headers=bearer(tokens["gw-00"]))
    waiting = client.get(url, headers=bearer(tokens["gw-01"]))
    # then the canary may, the device in the closed wave may not
    assert canary.status_code == 200 and len(canary.data) > 0
    assert waiting.status_code == 403


def test_a_wave_committing_all_at_once_completes_the_rollout_once(
    client: FlaskClient, two_versions: None, live_url: str
) -> None:
    # given twelve gateways whose canary has committed, and a second wave of eleven
    tokens = add_devices(client, 12)
    rollout_id = start_rollout(client, canary_percent=1, wave_percent=100)["id"]
    report(client, "gw-00", tokens["gw-00"], "committed")
    bodies = []
    for number, device in enumerate(sorted(tokens)[1:]):
        body = {"name": MODEL, "version": "1.1.0", "state": "committed", "ts_ms": 10_000 + number}
        bodies.append((device, json.dumps(body).encode()))

    def send(item: tuple[str, bytes]) -> int:
        device, body = item
        request = urllib.request.Request(
            f"{live_url}/api/v1/devices/{device}/report",
            data=body,
            method="POST",
            headers={**bearer(tokens[device]), "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status)

    # when the whole wave reports committed at the same moment, each report sent twice
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(send, bodies + bodies))
    # then every report is accepted and the rollout completed with each device counted once
    assert statuses == [204] * 22
    done = rollout(client, rollout_id)
    assert done["state"] == "completed" and done["counts"] == {"committed": 12}
    history = js(client.get("/api/v1/devices/gw-05", headers=ADMIN))["history"]
    assert [h["state"] for h in history] == ["committed"]


def test_a_rollback_after_completion_returns_the_device_to_its_previous_version(
    client: FlaskClient, two_versions: None
) -> None:
    # given a gateway that went from 1.0.0 to 1.1.0 in a completed rollout
    tokens = add_devices(client, 1)
    report(client, "gw-00", tokens["gw-00"], "committed", version="1.0.0")
    rollout_id = start_rollout(client)["id"]
    report(client, "gw-00", tokens["gw-00"], "committed")
    assert rollout(client, rollout_id)["state"] == "completed"
    # when an operator on site rolls 1.1.0 back
    report(client, "gw-00", tokens["gw-00"], "rolled_back", reason="operator: false rejects on line 2")
    # then the fleet knows it runs 1.0.0 again and does not offer 1.1.0 once more
    device = js(client.get("/api/v1/devices/gw-00", headers=ADMIN))
    assert device["models"] == {MODEL: "1.0.0"}
    offer = desired(client, "gw-00", tokens["gw-00"])[MODEL]
    assert (offer["version"], offer["rollout_id"]) == ("1.0.0", None)
    assert rollout(client, rollout_id)["counts"] == {"rolled_back": 1}


def test_a_version_reported_without_an_offer_is_recorded_once_and_moves_no_wave(
    client: FlaskClient, two_versions: None
) -> None:
    # given ten gateways and a rollout of 1.1.0 whose canary gw-00 has not finished
    tokens = add_devices(client, 10)
    rollout_id = start_rollout(client, canary_percent=10, wave_percent=50)["id"]
    # when gw-05 of the second wave, never offered 1.1.0, reports it committed (installed by hand on site), twice
    body = {"name": MODEL, "version": "1.1.0", "state": "committed", "ts_ms": 5_000_000}
    sent = [client.post("/api/v1/devices/gw-05/report", json=body, headers=bearer(tokens["gw-05"])) for _ in "ab"]
    # then both are accepted, the report is stored once and the fleet shows what the gateway runs
    assert [answer.status_code for answer in sent] == [204, 204]
    device = js(client.get("/api/v1/devices/gw-05", headers=ADMIN))
    assert device["models"] == {MODEL: "1.1.0"}
    assert [h["state"] for h in device["history"]] == ["committed"]
    # and the rollout did not move: the canary wave is still the only open one
    assert rollout(client, rollout_id)["current_wave"] == 0
    assert desired(client, "gw-01", tokens["gw-01"]) == {}
    # when the canary commits, the second wave opens with gw-05 already counted as committed
    report(client, "gw-00", tokens["gw-00"], "committed", rollout_id=rollout_id)
    states = _states(client, rollout_id)
    assert states["gw-05"] == "committed"
    assert [states[f"gw-{i:02d}"] for i in range(1, 5)] == ["offered"] * 4


def test_a_version_the_registry_never_had_is_recorded_but_never_offered(
    client: FlaskClient, two_versions: None
) -> None:
    # given a gateway running 1.0.0
    tokens = add_devices(client, 1)
    report(client, "gw-00", tokens["gw-00"], "committed", version="1.0.0")
    # when it reports a version this cloud-sync never registered (flashed at the factory)
    status = report(client, "gw-00", tokens["gw-00"], "committed", version="7.7.7")
    # then the fleet records what it runs, and the desired state offers it nothing it could not download
    assert status == 204
    assert js(client.get("/api/v1/devices/gw-00", headers=ADMIN))["models"] == {MODEL: "7.7.7"}
    for entry in desired(client, "gw-00", tokens["gw-00"]).values():
        assert entry["version"] != "7.7.7"

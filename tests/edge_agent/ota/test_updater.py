"""Given a gateway with tiny-health 1.0.0 active, when cloud-sync offers versions, the updater does the right thing."""

from __future__ import annotations

import hashlib
import io
import random
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import edge_agent.loading
from edge_agent.app import _pipeline_for
from edge_agent.errors import ModelPackageError
from edge_agent.model_manager import ModelManager
from edge_agent.ota.install import read_pointer, set_pointer
from edge_agent.ota.shadow import ShadowEvaluator
from edge_agent.ota.updater import Updater, UpdaterSettings, verify_artifact
from edge_agent.runtimes import RuntimeOptions
from edge_agent.signing import TrustedKeys, generate_private_key
from tests.builders import DEV_PUBLIC_KEY, build_tiny_package, package_tar, resign, tiny_onnx
from tests.edge_agent.ota.fake_cloud import FakeCloud

NAME = "tiny-health"


class Probe:
    """Live figures the test sets (our HealthProbe protocol)."""

    def __init__(self) -> None:
        self.ok = 0
        self.failed = 0
        self.p99: dict[str, tuple[float, int]] = {}

    def model_counts(self, name: str) -> tuple[int, int]:
        return self.ok, self.failed

    def model_p99_ms(self, ident: str) -> tuple[float, int]:
        return self.p99.get(ident, (0.0, 0))


@pytest.fixture
def trusted() -> TrustedKeys:
    return TrustedKeys.from_paths([DEV_PUBLIC_KEY])


@pytest.fixture
def gateway(tmp_path: Path, trusted: TrustedKeys) -> dict[str, Any]:
    models_dir = tmp_path / "models"
    build_tiny_package(models_dir, "1.0.0")
    set_pointer(models_dir, NAME, "1.0.0")
    manager = ModelManager(models_dir, lambda path: _pipeline_for(path, trusted, RuntimeOptions()))
    manager.load(NAME)
    cloud = FakeCloud()
    probe = Probe()
    events: list[dict[str, Any]] = []
    updater = Updater(
        UpdaterSettings(base_url="http://cloud", device_id="gw-1", token="t", probation_min_items=5),
        cloud,
        manager,
        trusted,
        ShadowEvaluator(seed=1),
        probe,
        lambda kind, **detail: events.append({"type": kind, **detail}),
    )
    return {"dir": models_dir, "manager": manager, "cloud": cloud, "probe": probe, "updater": updater, "tmp": tmp_path}


def _new_version(tmp: Path, version: str, model_bytes: bytes | None = None) -> Path:
    return build_tiny_package(tmp / f"build-{version}-{random.random()}", version, model_bytes)


def _active_version(gateway: dict[str, Any]) -> str:
    return str(gateway["manager"].get(NAME).model.manifest.version)


def test_a_good_version_goes_live_and_is_committed_with_every_state_reported(gateway: dict[str, Any]) -> None:
    cloud, updater = gateway["cloud"], gateway["updater"]
    cloud.offer(NAME, "1.1.0", package_tar(_new_version(gateway["tmp"], "1.1.0")))
    updater.poll_once()
    assert _active_version(gateway) == "1.1.0" and read_pointer(gateway["dir"], NAME) == "1.1.0"
    assert read_pointer(gateway["dir"], NAME, "previous") == "1.0.0"
    updater.step()
    states = cloud.states(NAME)
    assert states == ["offered", "downloading", "verifying", "staged", "selftest", "active", "probation", "committed"]
    assert not list((gateway["dir"] / ".ota" / "staging").iterdir())


def test_reports_wait_for_the_cloud_and_are_sent_in_order(gateway: dict[str, Any]) -> None:
    cloud, updater = gateway["cloud"], gateway["updater"]
    cloud.offer(NAME, "1.1.0", package_tar(_new_version(gateway["tmp"], "1.1.0")))
    updater.poll_once()
    cloud.down = True
    updater.step()  # committed while the cloud is away
    cloud.down = False
    updater.flush_reports()
    assert cloud.states(NAME)[-1] == "committed"


def _rejected_reason(gateway: dict[str, Any]) -> str:
    reports = [r for r in gateway["cloud"].reports if r["state"] == "rejected"]
    assert reports, gateway["cloud"].states(NAME)
    assert _active_version(gateway) == "1.0.0"
    return str(reports[-1]["reason"])


def test_an_older_version_replayed_is_rejected(gateway: dict[str, Any]) -> None:
    gateway["cloud"].offer(NAME, "0.9.0", package_tar(_new_version(gateway["tmp"], "0.9.0")))
    gateway["updater"].poll_once()
    assert "not newer than the active 1.0.0" in _rejected_reason(gateway)


def test_the_same_version_with_different_bytes_is_rejected(gateway: dict[str, Any]) -> None:
    other = tiny_onnx(weights=np.ones((4, 3), np.float32))
    gateway["cloud"].offer(NAME, "1.0.0", package_tar(_new_version(gateway["tmp"], "1.0.0", other)))
    gateway["manager"].get(NAME)  # still active
    gateway["updater"]._consider({**gateway["cloud"].desired[0], "version": "1.0.0"})
    active = gateway["manager"].get(NAME)
    assert active.model.manifest.version == "1.0.0"


def test_a_package_signed_by_an_unknown_key_is_rejected(gateway: dict[str, Any]) -> None:
    package = _new_version(gateway["tmp"], "1.2.0")
    stranger = generate_private_key()
    (package / "manifest.sig").write_bytes(stranger.sign((package / "manifest.json").read_bytes()))
    gateway["cloud"].offer(NAME, "1.2.0", package_tar(package))
    gateway["updater"].poll_once()
    assert "none of the 1 trusted key" in _rejected_reason(gateway)


def test_an_unsigned_package_is_rejected(gateway: dict[str, Any]) -> None:
    package = _new_version(gateway["tmp"], "1.2.0")
    (package / "manifest.sig").unlink()
    gateway["cloud"].offer(NAME, "1.2.0", package_tar(package))
    gateway["updater"].poll_once()
    assert "no manifest.sig" in _rejected_reason(gateway)


def test_a_model_that_outputs_nan_on_live_data_is_rolled_back_in_probation(gateway: dict[str, Any]) -> None:
    cloud, updater, probe = gateway["cloud"], gateway["updater"], gateway["probe"]
    cloud.offer(NAME, "1.1.0", package_tar(_new_version(gateway["tmp"], "1.1.0")), probation_s=600)
    updater.poll_once()
    assert _active_version(gateway) == "1.1.0"
    probe.ok, probe.failed = 3, 17  # the workers saw NaN scores on most live inputs
    updater.step()
    assert _active_version(gateway) == "1.0.0" and read_pointer(gateway["dir"], NAME) == "1.0.0"
    reason = next(r["reason"] for r in cloud.reports if r["state"] == "rolled_back")
    assert "17 of 20 inputs failed" in reason


def test_a_model_five_times_over_its_latency_budget_is_rolled_back(gateway: dict[str, Any]) -> None:
    cloud, updater, probe = gateway["cloud"], gateway["updater"], gateway["probe"]
    cloud.offer(NAME, "1.1.0", package_tar(_new_version(gateway["tmp"], "1.1.0")), probation_s=600)
    updater.poll_once()
    budget = gateway["manager"].get(NAME).model.manifest.thresholds.max_latency_ms
    probe.p99[f"{NAME}@1.1.0"] = (5 * budget, 40)
    updater.step()
    assert _active_version(gateway) == "1.0.0"
    assert "over the" in next(r["reason"] for r in cloud.reports if r["state"] == "rolled_back")


def _mutate(tar_bytes: bytes, rng: random.Random) -> bytes:
    """One corruption of a package tar: bit flips, truncation or a damaged member (tar re-built)."""
    kind = rng.choice(["flip_member", "truncate_member", "header_fuzz", "wrong_sha", "append"])
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as source:
        members = [(m, source.extractfile(m).read()) for m in source.getmembers() if m.isfile()]  # type: ignore[union-attr]
    index = rng.randrange(len(members))
    member, data = members[index]
    if kind == "flip_member":
        position = rng.randrange(len(data))
        data = data[:position] + bytes([data[position] ^ (1 << rng.randrange(8))]) + data[position + 1 :]
    elif kind == "truncate_member":
        data = data[: rng.randrange(len(data))]
    elif kind == "header_fuzz":
        member, data = next((m, d) for m, d in members if m.name.endswith(".onnx"))
        index = [m for m, _ in members].index(member)
        head = bytearray(data[:64])
        for _ in range(rng.randint(1, 8)):
            head[rng.randrange(len(head))] = rng.randrange(256)
        data = bytes(head) + data[64:]
    elif kind == "wrong_sha":
        member, data = next((m, d) for m, d in members if m.name.endswith("manifest.json"))
        index = [m for m, _ in members].index(member)
        data = data.replace(b'"sha256": "', b'"sha256": "0', 1)
    else:
        data = data + bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    members[index] = (member, data)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for m, d in members:
            m.size = len(d)
            tar.addfile(m, io.BytesIO(d))
    return out.getvalue()


def test_a_thousand_corrupted_packages_are_rejected_before_any_runtime_loads_them(
    gateway: dict[str, Any], monkeypatch: pytest.MonkeyPatch, trusted: TrustedKeys
) -> None:
    cloud, updater = gateway["cloud"], gateway["updater"]
    good = package_tar(_new_version(gateway["tmp"], "2.0.0"))
    loads: list[Path] = []
    original = edge_agent.loading.create_runtime

    def counting_create_runtime(kind: str, path: Path, options: RuntimeOptions) -> object:
        loads.append(path)
        return original(kind, path, options)

    monkeypatch.setattr(edge_agent.loading, "create_runtime", counting_create_runtime)
    rng = random.Random(2026)
    active = gateway["manager"].get(NAME).model.manifest
    work = gateway["tmp"] / "fuzz"
    work.mkdir()
    rejected = 0
    for _ in range(1000):
        corrupted = _mutate(good, rng)
        if corrupted == good:
            continue
        artifact = work / "a.tar"
        artifact.write_bytes(corrupted)
        with pytest.raises(ModelPackageError):
            verify_artifact(artifact, work / "staging", NAME, "2.0.0", trusted, active)
        rejected += 1
    assert rejected >= 990
    # a sample of them also goes the whole way through the updater: rejected, reason reported, old model serving
    for _ in range(25):
        cloud.offer(NAME, "2.0.0", _mutate(good, rng))
        updater.state.record.offers.pop(NAME, None)
        updater.poll_once()
        assert updater.state.record.offers[NAME].state == "rejected"
    assert loads == []  # no corrupted file ever reached LiteRT or ONNX Runtime
    assert _active_version(gateway) == "1.0.0"
    assert all(r["reason"] for r in cloud.reports if r["state"] == "rejected")
    assert not [p for p in (gateway["dir"] / NAME).iterdir() if p.name not in ("1.0.0", "current")]


def test_the_wrong_key_after_rotation_and_a_removed_key(gateway: dict[str, Any], tmp_path: Path) -> None:
    package = _new_version(gateway["tmp"], "1.3.0")
    manifest = (package / "manifest.json").read_bytes()
    assert hashlib.sha256(manifest).hexdigest()
    resign(package, {"description": "re-signed by the dev key"})
    gateway["updater"].trusted = TrustedKeys({"other": generate_private_key().public_key()})  # dev key removed
    gateway["cloud"].offer(NAME, "1.3.0", package_tar(package))
    gateway["updater"].poll_once()
    assert "trusted" in _rejected_reason(gateway)

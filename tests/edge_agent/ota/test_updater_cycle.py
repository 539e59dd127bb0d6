"""Given a gateway whose line engine runs cycle-time 1.0.0 from models.dir, when cloud-sync offers a new version,
then the updater installs it and moves its pointer (the line engine switches), or refuses it and 1.0.0 stays."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge_agent.app import _pipeline_for
from edge_agent.app.parts import build_updater
from edge_agent.config import parse_config
from edge_agent.line.cycle_model import CycleModelSource
from edge_agent.model_manager import ModelManager
from edge_agent.ota.install import read_pointer, set_pointer
from edge_agent.ota.shadow import ShadowEvaluator
from edge_agent.ota.updater import Updater, UpdaterSettings
from edge_agent.runtimes import RuntimeOptions
from edge_agent.signing import TrustedKeys
from edge_agent.stats import AgentStats
from tests.builders import DEV_PUBLIC_KEY, package_tar, resign
from tests.edge_agent.ota.fake_cloud import FakeCloud
from tests.edge_agent.ota.test_updater import Probe

NAME = "cycle-time"
SHIPPED = Path(__file__).resolve().parents[3] / "models" / NAME / "1.0.0"


class Clock:
    """The line engine's wall clock, stepped by the test past the pointer check interval."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def trusted() -> TrustedKeys:
    return TrustedKeys.from_paths([DEV_PUBLIC_KEY])


def _updater(models_dir: Path, trusted: TrustedKeys, cloud: FakeCloud, disk: dict[str, str]) -> Updater:
    manager = ModelManager(models_dir, lambda path: _pipeline_for(path, trusted, RuntimeOptions()))
    settings = UpdaterSettings(base_url="http://cloud", device_id="gw-1", token="t", disk_models=disk)
    return Updater(settings, cloud, manager, trusted, ShadowEvaluator(seed=1), Probe(), lambda kind, **d: None)


@pytest.fixture
def gateway(tmp_path: Path, trusted: TrustedKeys) -> dict[str, Any]:
    models_dir = tmp_path / "models"
    shutil.copytree(SHIPPED, models_dir / NAME / "1.0.0")
    set_pointer(models_dir, NAME, "1.0.0")
    cloud = FakeCloud()
    updater = _updater(models_dir, trusted, cloud, {NAME: "cycle_time"})
    clock, switched = Clock(), []
    source = CycleModelSource(models_dir, NAME, trusted, lambda version, path: switched.append(version), clock)
    return {"dir": models_dir, "cloud": cloud, "updater": updater, "clock": clock, "source": source, "tmp": tmp_path}


def _version(tmp: Path, version: str) -> Path:
    """The shipped package re-versioned and signed by the dev key."""
    package = tmp / "build" / version / NAME / version
    shutil.copytree(SHIPPED, package)
    resign(package, {"version": version})
    return package


def _line_engine_version(gateway: dict[str, Any]) -> str:
    gateway["clock"].now += 10.0  # past CHECK_INTERVAL_S: the source looks at the pointer again
    model = gateway["source"].get()
    assert model is not None, gateway["source"].error
    return str(model.model.manifest.version)


def test_a_signed_version_is_installed_made_current_and_the_line_engine_switches(gateway: dict[str, Any]) -> None:
    cloud, updater = gateway["cloud"], gateway["updater"]
    assert _line_engine_version(gateway) == "1.0.0"
    cloud.offer(NAME, "1.1.0", package_tar(_version(gateway["tmp"], "1.1.0")), shadow={"min_agreement": 0.9})
    updater.poll_once()
    assert read_pointer(gateway["dir"], NAME) == "1.1.0" and read_pointer(gateway["dir"], NAME, "previous") == "1.0.0"
    assert cloud.states(NAME) == ["offered", "downloading", "verifying", "staged", "selftest", "active", "committed"]
    active, committed = cloud.reports[-2:]
    assert "shadow evaluation skipped" in str(active["reason"]) and active["detail"] == {"skipped": "shadow"}
    assert "probation skipped" in str(committed["reason"]) and committed["detail"] == {"skipped": "probation"}
    assert _line_engine_version(gateway) == "1.1.0"
    assert updater.models.names() == []  # never a pipeline: the inference API's catalog does not list it
    updater.poll_once()  # the same offer again changes nothing
    assert cloud.states(NAME)[-1] == "committed" and len(cloud.reports) == 7


def _refused(gateway: dict[str, Any], package: Path, version: str) -> str:
    gateway["cloud"].offer(NAME, version, package_tar(package))
    gateway["updater"].poll_once()
    reports = gateway["cloud"].reports
    assert reports[-1]["state"] == "rejected", gateway["cloud"].states(NAME)
    assert read_pointer(gateway["dir"], NAME) == "1.0.0" and not (gateway["dir"] / NAME / version).exists()
    assert _line_engine_version(gateway) == "1.0.0"
    return str(reports[-1]["reason"])


def test_a_tampered_model_file_is_refused_and_the_old_version_stays(gateway: dict[str, Any]) -> None:
    package = _version(gateway["tmp"], "1.2.0")
    model = bytearray((package / "model.onnx").read_bytes())
    model[-1] ^= 0x01  # same size, other bytes than the signed manifest's sha256
    (package / "model.onnx").write_bytes(bytes(model))
    assert "sha256" in _refused(gateway, package, "1.2.0")


def test_an_unsigned_package_is_refused_and_the_old_version_stays(gateway: dict[str, Any]) -> None:
    package = _version(gateway["tmp"], "1.2.0")
    (package / "manifest.sig").unlink()
    assert "no manifest.sig" in _refused(gateway, package, "1.2.0")


def test_a_signed_package_failing_its_self_test_is_refused_and_the_old_version_stays(gateway: dict[str, Any]) -> None:
    package = _version(gateway["tmp"], "1.2.0")
    with np.load(package / "selftest.npz") as data:
        arrays = {key: data[key] for key in data.files}
    arrays["expected_0"] = arrays["expected_0"] * 2.0
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    (package / "selftest.npz").write_bytes(buffer.getvalue())
    manifest = json.loads((package / "manifest.json").read_text())
    manifest["files"]["selftest.npz"] = hashlib.sha256(buffer.getvalue()).hexdigest()
    resign(package, raw=json.dumps(manifest, indent=2).encode())
    assert "self-test failed" in _refused(gateway, package, "1.2.0")


def test_an_older_version_is_refused(gateway: dict[str, Any]) -> None:
    assert "not newer than the active 1.0.0" in _refused(gateway, _version(gateway["tmp"], "0.9.0"), "0.9.0")


def test_a_restart_after_the_pointer_moved_commits_the_offer(gateway: dict[str, Any], trusted: TrustedKeys) -> None:
    cloud = gateway["cloud"]
    cloud.offer(NAME, "1.1.0", package_tar(_version(gateway["tmp"], "1.1.0")))
    gateway["updater"].poll_once()
    state = gateway["updater"].state
    state.record.offers[NAME].state = "active"  # as if the agent died right after the pointer moved
    state.save()
    _updater(gateway["dir"], trusted, cloud, {NAME: "cycle_time"}).recover([])
    assert cloud.states(NAME)[-1] == "committed" and "resumed after restart" in str(cloud.reports[-1]["reason"])
    assert read_pointer(gateway["dir"], NAME) == "1.1.0"


def test_without_line_cycles_in_the_config_an_offer_is_still_refused(gateway: dict[str, Any], tmp_path: Path) -> None:
    cloud = FakeCloud()
    updater = _updater(gateway["dir"], TrustedKeys.from_paths([DEV_PUBLIC_KEY]), cloud, {})
    cloud.offer(NAME, "1.1.0", package_tar(_version(tmp_path, "1.1.0")))
    updater.poll_once()
    assert cloud.reports[-1]["state"] == "rejected" and "not a pipeline" in str(cloud.reports[-1]["reason"])
    assert read_pointer(gateway["dir"], NAME) == "1.0.0"


def test_the_agent_hands_its_line_cycles_model_to_the_updater(tmp_path: Path, trusted: TrustedKeys) -> None:
    unit = {
        "id": "press-1",
        "state_tag": "p/state",
        "states": {"1": "running"},
        "counters": {"total": "p/total"},
        "ideal_cycle_s": {"default": 4.0},
    }
    document = {
        "version": 1,
        "gateway": {"id": "gw-1", "site": "s", "line": "l"},
        "models": {"dir": str(tmp_path / "models")},
        "cloud": {"url": "http://cloud"},
        "line": {"units": [unit], "cycles": {"model": NAME}},
    }
    manager = ModelManager(tmp_path / "models", lambda path: _pipeline_for(path, trusted, RuntimeOptions()))

    def disk_models(config: dict[str, Any]) -> dict[str, str]:
        parsed = parse_config(config, "config.yaml")
        updater = build_updater(parsed, "t", trusted, manager, ShadowEvaluator(), AgentStats(), lambda kind, **d: None)
        return dict(updater.settings.disk_models)

    assert disk_models(document) == {NAME: "cycle_time"}
    assert disk_models({**document, "line": {"units": [unit]}}) == {}

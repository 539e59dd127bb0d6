"""Given a gateway that uploads its line cycles and a press whose new tooling makes every cycle 6% longer, when
cloud-sync retrains the cycle-time model accepting the drift as the new normal, then a new signed version expects
the press's new pace, and rolled out it is installed by the gateway's OTA updater and its line engine switches to it;
with nothing new to learn, or the drift not accepted, it is refused."""

from __future__ import annotations

import base64
import dataclasses
import json
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_agent.app import _pipeline_for
from edge_agent.demo.plc_line import DEMO_UNITS
from edge_agent.demo.plc_replay import Replay
from edge_agent.line.cycle_model import CycleModel, CycleModelSource
from edge_agent.line.cycles import Cycle
from edge_agent.loading import load_model
from edge_agent.model_manager import ModelManager
from edge_agent.ota.http import UrllibTransport
from edge_agent.ota.install import read_pointer, set_pointer
from edge_agent.ota.shadow import ShadowEvaluator
from edge_agent.ota.updater import Updater, UpdaterSettings
from edge_agent.runtimes import RuntimeOptions
from edge_agent.signing import TrustedKeys
from tests.e2e.cloud_server import serve_cloud
from tests.edge_agent.ota.test_updater import Probe

REPO = Path(__file__).resolve().parents[2]
TOKEN = "cycle-admin-token-0123456789abcdef"
BIN = Path(sys.executable).parent
PACKAGE = REPO / "models" / "cycle-time" / "1.0.0"
DEV_KEY = REPO / "models" / "keys" / "dev-signing.pub"


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    for _app, url, public in serve_cloud(tmp_path, TOKEN):
        yield url, public


def _cli(*args: str, expect: int = 0) -> str:
    done = subprocess.run([str(BIN / "cloud-sync"), *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == expect, f"cloud-sync {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _upload(url: str, device: str, token: str, documents: list[dict[str, Any]], first_seq: int) -> None:
    """The records as the gateway's outbox uploader sends them (stream cycles/UNIT, priority sample)."""
    records = [
        {
            "stream": f"cycles/{d['unit']}",
            "seq": first_seq + i,
            "ts_ms": d["cycles"][-1][0],
            "priority": "sample",
            "body_b64": base64.b64encode(json.dumps(d).encode()).decode(),
        }
        for i, d in enumerate(documents)
    ]
    request = urllib.request.Request(
        f"{url}/api/v1/devices/{device}/batches",
        data=json.dumps({"records": records, "drops": {}}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert len(json.loads(response.read())["acked"]) == len(records)


def _shift(press_factor: float, seed: int, model: CycleModel) -> list[dict[str, Any]]:
    """A 4 h shift of the demo line (no degrading welder) judged by the model; its uploaded cycle records."""
    specs = tuple(dataclasses.replace(s, degrade_onset_s=None) for s in DEMO_UNITS)
    specs = (dataclasses.replace(specs[0], speed_factor=press_factor), *specs[1:])
    start_ms = 1_796_169_600_000 + seed * 86_400_000
    replay = Replay(specs, start_ms, 4 * 3600, [(7200.0, 8100.0)], model=lambda: model, seed=seed)
    replay.run()
    return replay.uploads


def _expected_press_a(model: CycleModel) -> float:
    cycle = Cycle("press-1", 0, 1, "A", 100.0)
    expected = model.expect([cycle])[0]
    assert expected is not None
    return expected.expected_s


def _gateway_updater(url: str, token: str, models_dir: Path, trusted: TrustedKeys) -> Updater:
    """The OTA updater of an agent whose config has line.cycles.model cycle-time (as app.parts builds it)."""
    settings = UpdaterSettings(url, "gw-1", token, disk_models={"cycle-time": "cycle_time"})
    manager = ModelManager(models_dir, lambda path: _pipeline_for(path, trusted, RuntimeOptions()))
    return Updater(settings, UrllibTransport(), manager, trusted, ShadowEvaluator(), Probe(), lambda kind, **d: None)


def _device_states(url: str, version: str) -> list[str]:
    """The OTA states gw-1 reported for cycle-time@version, oldest first (the fleet's device page)."""
    request = urllib.request.Request(f"{url}/api/v1/devices/gw-1", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        history = json.loads(response.read()).get("history", [])  # newest first
    return [h["state"] for h in reversed(history) if h.get("name") == "cycle-time" and h.get("version") == version]


def test_retraining_learns_the_new_pace_from_uploaded_cycles(cloud: tuple[str, Path], tmp_path: Path) -> None:
    url, fleet_public = cloud
    remote = ["--url", url, "--token", TOKEN]
    device_token = _cli("device", "add", "gw-1", "--group", "line-1", *remote).strip()
    _cli("publish", str(PACKAGE), *remote)
    current = CycleModel(load_model(PACKAGE, TrustedKeys.from_paths([DEV_KEY])))
    assert _expected_press_a(current) == pytest.approx(4.4, rel=0.01)  # 4.0 s ideal x 1.1

    # given a shift as the model knows the line: retraining on it finds nothing better
    _upload(url, "gw-1", device_token, _shift(1.1, 301, current), first_seq=1)
    since = ["--since-days", "3650"]  # the simulated shifts lie on fixed past days
    refused = _cli("retrain", "cycle-time", "--workdir", str(tmp_path / "r1"), *since, *remote, expect=3)
    assert "nothing registered" in refused

    # when the press runs 6% slower for two shifts after new tooling (the gateway flags it as drift)
    documents = _shift(1.166, 302, current) + _shift(1.166, 303, current)
    assert any(row[-1] for d in documents if d["unit"] == "press-1" for row in d["cycles"])
    _upload(url, "gw-1", device_token, documents, first_seq=1000)
    # then a retrain that keeps drifted cycles out (a degradation must not become the norm) changes nothing
    _cli("retrain", "cycle-time", "--workdir", str(tmp_path / "r2a"), *since, *remote, expect=3)
    # and one that accepts the drift as the new normal registers a new version
    table = _cli("retrain", "cycle-time", "--workdir", str(tmp_path / "r2"), "--accept-drift", *since, *remote)
    assert "registered cycle-time@1.1.0" in table, table

    assert (tmp_path / "r2" / "candidate" / "cycle-time" / "1.1.0").is_dir()

    # when it is rolled out to the group of a gateway whose line engine runs 1.0.0 from its models dir
    models_dir = tmp_path / "gateway" / "models"
    shutil.copytree(PACKAGE, models_dir / "cycle-time" / "1.0.0")
    set_pointer(models_dir, "cycle-time", "1.0.0")
    trusted = TrustedKeys.from_paths([DEV_KEY, fleet_public])
    wall = [0.0]
    source = CycleModelSource(models_dir, "cycle-time", trusted, lambda version, path: None, lambda: wall[0])
    before = source.get()
    assert before is not None and before.model.manifest.version == "1.0.0", source.error
    _cli("rollout", "cycle-time", "1.1.0", "--group", "line-1", "--canary", "100", "--probation", "0", *remote)
    _gateway_updater(url, device_token, models_dir, trusted).poll_once()
    # then the gateway verified (fleet key), self-tested and installed it, reported every state, and moved the pointer
    states = ["offered", "downloading", "verifying", "staged", "selftest", "active", "committed"]
    assert _device_states(url, "1.1.0") == states
    assert read_pointer(models_dir, "cycle-time") == "1.1.0"
    # and its line engine switches to it: signed by the fleet key, it expects the press's new pace
    wall[0] += 10.0
    retrained = source.get()
    assert retrained is not None and retrained.model.manifest.version == "1.1.0", source.error
    assert retrained.model.package.signed_by != current.model.package.signed_by
    assert _expected_press_a(retrained) == pytest.approx(4.0 * 1.166, rel=0.01)

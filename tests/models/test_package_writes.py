"""Given trained models, packages are written whole or not at all, and changed bytes never reuse a version."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge_agent.loading import load_model
from edge_agent.signing import TrustedKeys, load_private_key
from models.training.package import DEV_KEY, PackageVersionError, write_package
from tests.builders import tiny_onnx, tiny_trained

REPO = Path(__file__).resolve().parents[2]
DEV_PUBLIC = REPO / "models" / "keys" / "dev-signing.pub"


def _other_bytes() -> bytes:
    return tiny_onnx(np.random.default_rng(7).normal(size=(4, 3)).astype(np.float32))


def test_given_a_version_with_other_bytes_when_bumping_then_the_next_free_patch_version_is_written(
    tmp_path: Path,
) -> None:
    key = load_private_key(DEV_KEY)
    first = write_package(tiny_trained("1.2.0"), tmp_path, key)
    # When the same model is written again, it keeps its version; when other bytes come, they get 1.2.1
    again = write_package(tiny_trained("1.2.0"), tmp_path, key, on_change="bump")
    changed = write_package(tiny_trained("1.2.0", _other_bytes()), tmp_path, key, on_change="bump")
    assert again == first and changed.name == "1.2.1"
    assert json.loads((changed / "manifest.json").read_text())["version"] == "1.2.1"
    assert (
        json.loads((first / "manifest.json").read_text())["sha256"]
        != json.loads((changed / "manifest.json").read_text())["sha256"]
    )
    # and the bumped package is one a gateway accepts
    load_model(changed, TrustedKeys.from_paths([DEV_PUBLIC])).runtime.close()


def test_given_a_version_with_other_bytes_when_not_bumping_then_writing_is_refused(tmp_path: Path) -> None:
    key = load_private_key(DEV_KEY)
    write_package(tiny_trained("1.0.0"), tmp_path, key)
    with pytest.raises(PackageVersionError, match="new version"):
        write_package(tiny_trained("1.0.0", _other_bytes()), tmp_path, key)


def test_given_a_failing_build_then_no_half_written_package_is_left_and_the_old_one_is_intact(tmp_path: Path) -> None:
    key = load_private_key(DEV_KEY)
    old = write_package(tiny_trained("1.0.0"), tmp_path, key)
    before = {p.name: p.read_bytes() for p in old.iterdir()}
    # When a build dies half-way (here: model bytes no runtime can load, after the files started to be written)
    with pytest.raises(Exception):  # noqa: B017 - whatever the runtime raises
        write_package(tiny_trained("1.0.0", b"not an onnx model"), tmp_path, key, on_change="replace")
    # Then the package directory holds only the old, complete version, and no partial directory remains
    assert sorted(p.name for p in (tmp_path / "tiny-health").iterdir()) == ["1.0.0"]
    assert {p.name: p.read_bytes() for p in old.iterdir()} == before


def test_given_leftovers_of_a_killed_build_then_the_next_build_removes_them(tmp_path: Path) -> None:
    stale = tmp_path / "tiny-health" / ".1.0.0.partial-4242"
    stale.mkdir(parents=True)
    (stale / "model.onnx").write_bytes(b"half")
    write_package(tiny_trained("1.0.0"), tmp_path, load_private_key(DEV_KEY))
    assert sorted(p.name for p in (tmp_path / "tiny-health").iterdir()) == ["1.0.0"]


@pytest.mark.slow
def test_the_reduced_maintenance_recipe_runs_end_to_end_to_a_package_a_gateway_accepts(tmp_path: Path) -> None:
    # Given an empty models directory
    # When `make models` runs its reduced recipe for maintenance (data -> train -> export -> package -> verify)
    done = subprocess.run(
        [sys.executable, "-m", "models.training.build_all", "--only", "maintenance", "--quick", "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # Then one signed package is there, it passes the gateway's verification and self-test, and it classifies
    (package,) = [p for p in (tmp_path / "bearing-health").iterdir()]
    loaded = load_model(package, TrustedKeys.from_paths([DEV_PUBLIC]))
    try:
        manifest = json.loads((package / "manifest.json").read_text())
        assert manifest["training"]["quick"] is True and manifest["version"] == package.name
        features = np.zeros((1, manifest["input"]["shape"][1]), dtype=np.float32)
        outputs = loaded.runtime.run(features)
        assert outputs[0].shape[0] == 1
    finally:
        loaded.runtime.close()
    assert (package / "MODEL_CARD.md").read_text().startswith("# bearing-health")

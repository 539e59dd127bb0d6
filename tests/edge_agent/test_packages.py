"""Given a model package, when it is damaged or lies, then loading refuses it with a clear reason."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edge_agent.errors import (
    IncompatibleModelError,
    IntegrityError,
    ManifestError,
    ModelPackageError,
    RuntimeLoadError,
    SelfTestError,
    SignatureError,
)
from edge_agent.loading import load_model
from edge_agent.packages import verify_package
from edge_agent.signing import TrustedKeys, generate_private_key, public_key_pem
from tests.builders import DEV_PUBLIC_KEY, build_tiny_package, resign, tiny_onnx


@pytest.fixture
def trusted() -> TrustedKeys:
    return TrustedKeys.from_paths([DEV_PUBLIC_KEY])


@pytest.fixture
def package(tmp_path: Path) -> Path:
    return build_tiny_package(tmp_path / "pkgs")


def test_a_good_package_loads_and_runs(package: Path, trusted: TrustedKeys) -> None:
    model = load_model(package, trusted)
    probs, anomaly = model.run(np.ones((3, 4), np.float32))
    assert probs.shape == (3, 3) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    assert np.allclose(anomaly, 4.0)
    assert model.package.signed_by in trusted.keys


def test_a_flipped_byte_in_the_manifest_breaks_the_signature(package: Path, trusted: TrustedKeys) -> None:
    data = bytearray((package / "manifest.json").read_bytes())
    data[data.index(b'"version"') + 13] ^= 0x01
    (package / "manifest.json").write_bytes(bytes(data))
    with pytest.raises(SignatureError, match="manifest.sig"):
        verify_package(package, trusted)


def test_an_unsigned_package_is_refused(package: Path, trusted: TrustedKeys) -> None:
    (package / "manifest.sig").unlink()
    with pytest.raises(ModelPackageError, match="no manifest.sig"):
        verify_package(package, trusted)


def test_a_package_signed_by_an_unknown_key_is_refused(package: Path, trusted: TrustedKeys) -> None:
    stranger = generate_private_key()
    (package / "manifest.sig").write_bytes(stranger.sign((package / "manifest.json").read_bytes()))
    with pytest.raises(SignatureError, match="none of the 1 trusted"):
        verify_package(package, trusted)


def test_a_rotated_key_is_accepted_next_to_the_old_one(package: Path, tmp_path: Path) -> None:
    new_key = generate_private_key()
    keys_dir = tmp_path / "keys"
    keys_dir.mkdir()
    (keys_dir / "new.pub").write_bytes(public_key_pem(new_key))
    (keys_dir / "dev.pub").write_bytes(DEV_PUBLIC_KEY.read_bytes())
    (package / "manifest.sig").write_bytes(new_key.sign((package / "manifest.json").read_bytes()))
    assert len(TrustedKeys.from_paths([keys_dir]).keys) == 2
    verify_package(package, TrustedKeys.from_paths([keys_dir]))
    (keys_dir / "new.pub").unlink()  # the key is removed from the gateway: its signatures stop counting
    with pytest.raises(SignatureError):
        verify_package(package, TrustedKeys.from_paths([keys_dir]))


@pytest.mark.parametrize("damage", ["flip", "truncate", "append", "delete"])
def test_a_damaged_model_file_is_refused_before_any_runtime_sees_it(
    package: Path, trusted: TrustedKeys, damage: str
) -> None:
    model = package / "model.onnx"
    data = bytearray(model.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x40
        model.write_bytes(bytes(data))
    elif damage == "truncate":
        model.write_bytes(bytes(data[:-10]))
    elif damage == "append":
        model.write_bytes(bytes(data) + b"\0")
    else:
        model.unlink()
    with pytest.raises(IntegrityError, match="model.onnx"):
        verify_package(package, trusted)


def test_garbage_with_a_matching_sha256_fails_in_the_runtime_with_a_clear_error(
    package: Path, trusted: TrustedKeys
) -> None:
    import hashlib

    garbage = b"\x08\x07garbage-not-onnx" * 50
    (package / "model.onnx").write_bytes(garbage)
    resign(package, {"sha256": hashlib.sha256(garbage).hexdigest(), "size": len(garbage)})
    with pytest.raises(RuntimeLoadError, match="ONNX Runtime cannot load"):
        load_model(package, trusted)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"input.shape": [-1, 7]}, "manifest declares input"),
        ({"input.dtype": "uint8", "input.quantization": {"scale": 1.0, "zero_point": 0}}, "manifest declares input"),
        ({"output.tensors": []}, "at least 1 item"),
        ({"output.labels": ["healthy", "x"]}, "2 labels but 3 class scores"),
    ],
)
def test_a_manifest_that_lies_about_tensors_is_refused(
    package: Path, trusted: TrustedKeys, edit: dict, message: str
) -> None:
    resign(package, edit)
    with pytest.raises((IncompatibleModelError, ManifestError), match=message):
        load_model(package, trusted)


def test_a_manifest_with_unknown_keys_or_bad_json_is_refused(package: Path, trusted: TrustedKeys) -> None:
    resign(package, {"surprise": 1})
    with pytest.raises(ManifestError, match="surprise"):
        verify_package(package, trusted)
    resign(package, raw=b"{not json")
    with pytest.raises(ManifestError, match="not valid UTF-8 JSON"):
        verify_package(package, trusted)


def test_a_model_needing_a_newer_agent_is_refused(package: Path, trusted: TrustedKeys) -> None:
    resign(package, {"min_agent_version": "99.0.0"})
    with pytest.raises(IncompatibleModelError, match="needs edge-agent >= 99.0.0"):
        verify_package(package, trusted)


def test_a_model_whose_outputs_changed_fails_its_self_test(package: Path, trusted: TrustedKeys) -> None:
    import hashlib

    other = tiny_onnx(weights=np.full((4, 3), 0.5, np.float32) * np.arange(3, dtype=np.float32))
    (package / "model.onnx").write_bytes(other)
    resign(package, {"sha256": hashlib.sha256(other).hexdigest(), "size": len(other)})
    with pytest.raises(SelfTestError, match="differs from expected"):
        load_model(package, trusted)


def test_a_model_that_outputs_nan_fails_its_self_test(tmp_path: Path, trusted: TrustedKeys) -> None:
    good = build_tiny_package(tmp_path / "a")
    import hashlib

    nan_model = tiny_onnx(emit_nan=True)
    (good / "model.onnx").write_bytes(nan_model)
    resign(good, {"sha256": hashlib.sha256(nan_model).hexdigest(), "size": len(nan_model)})
    with pytest.raises(SelfTestError, match="NaN"):
        load_model(good, trusted)


def test_a_corrupt_selftest_file_is_refused_before_the_runtime_loads(package: Path, trusted: TrustedKeys) -> None:
    (package / "selftest.npz").write_bytes(b"PK\x03\x04broken")
    with pytest.raises(IntegrityError, match="selftest.npz: sha256 does not match"):
        verify_package(package, trusted)


def test_unreadable_selftest_data_signed_by_the_key_holder_fails_the_self_test(
    package: Path, trusted: TrustedKeys
) -> None:
    import hashlib

    broken = b"PK\x03\x04broken"
    (package / "selftest.npz").write_bytes(broken)
    files = json.loads((package / "manifest.json").read_text())["files"]
    resign(package, {"files": {**files, "selftest.npz": hashlib.sha256(broken).hexdigest()}})
    with pytest.raises(SelfTestError, match="unreadable self-test"):
        load_model(package, trusted)


def test_a_changed_model_card_or_an_extra_file_is_refused(package: Path, trusted: TrustedKeys) -> None:
    card = package / "MODEL_CARD.md"
    card.write_text(card.read_text() + "\nAccuracy: 100%\n")
    with pytest.raises(IntegrityError, match="MODEL_CARD.md: sha256"):
        verify_package(package, trusted)


def test_an_unlisted_file_in_a_package_is_refused(package: Path, trusted: TrustedKeys) -> None:
    (package / "payload.so").write_bytes(b"\x7fELF")
    with pytest.raises(IntegrityError, match="does not list: payload.so"):
        verify_package(package, trusted)


def test_the_manifest_on_disk_is_exactly_what_was_signed(package: Path) -> None:
    manifest = json.loads((package / "manifest.json").read_text())
    assert manifest["name"] == "tiny-health"
    assert len((package / "manifest.sig").read_bytes()) == 64

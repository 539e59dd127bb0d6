"""Publishing model packages: idempotency, version order, re-signing, and refusal of broken or unsafe tars."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from flask.testing import FlaskClient

from edge_agent.packages import verify_package
from edge_agent.signing import TrustedKeys
from tests.cloud_sync.helpers import ADMIN, add_device, bearer, js
from tests.cloud_sync.pkgtools import MODEL, make_package, manifest_bytes, package_entries, tar_dir, tar_entries, untar


def upload(client: FlaskClient, data: bytes, headers: dict[str, str] | None = None):
    """POST a tar to the registry."""
    return client.post(
        "/api/v1/models", data=data, headers=headers if headers is not None else ADMIN, content_type="application/x-tar"
    )


def download(client: FlaskClient, version: str = "1.0.0") -> bytes:
    """The whole signed artifact, as the admin."""
    answer = client.get(f"/api/v1/models/{MODEL}/{version}/artifact", headers=ADMIN)
    assert answer.status_code == 200
    return answer.data


def test_a_new_package_is_published_and_listed(client: FlaskClient, package: Path) -> None:
    # given a good package tar
    model = (package / "model.onnx").read_bytes()
    # when it is uploaded
    answer = upload(client, tar_dir(package))
    # then it is created, with the model file's and the stored artifact's digests
    assert answer.status_code == 201
    assert js(answer)["name"] == MODEL and js(answer)["version"] == "1.0.0"
    assert js(answer)["sha256"] == hashlib.sha256(model).hexdigest()
    assert js(answer)["size"] == len(model)
    artifact = download(client)
    assert js(answer)["artifact_sha256"] == hashlib.sha256(artifact).hexdigest()
    assert js(answer)["artifact_size"] == len(artifact)
    listed = js(client.get("/api/v1/models", headers=ADMIN))
    assert [(m["name"], m["version"], m["task"], m["runtime"]) for m in listed] == [
        (MODEL, "1.0.0", "quality_inspection", "onnx")
    ]


def test_publishing_the_same_package_again_is_idempotent(client: FlaskClient, published: Path) -> None:
    # given line-qi 1.0.0 is published
    first = js(client.get("/api/v1/models", headers=ADMIN))[0]
    # when the identical package is uploaded again
    answer = upload(client, tar_dir(published))
    # then the answer is 200 with the stored artifact, and nothing new is listed
    assert answer.status_code == 200
    assert js(answer)["artifact_sha256"] == first["artifact_sha256"]
    assert len(js(client.get("/api/v1/models", headers=ADMIN))) == 1


def test_versions_only_go_up(client: FlaskClient, published: Path, tmp_path: Path) -> None:
    # given 1.0.0 is published
    # when the same version with other bytes, then an older version, then a newer one arrive
    changed = make_package(tmp_path / "changed", "1.0.0", model=b"other weights" * 100)
    older = make_package(tmp_path / "older", "0.9.0")
    pre_release = make_package(tmp_path / "pre", "1.0.0-rc.1")
    newer = make_package(tmp_path / "newer", "1.1.0")
    # then different bytes for a published version and older versions are refused, newer is accepted
    same_version = upload(client, tar_dir(changed))
    assert same_version.status_code == 409
    assert "different content" in js(same_version)["detail"]
    assert upload(client, tar_dir(older)).status_code == 409
    assert upload(client, tar_dir(pre_release)).status_code == 409
    assert upload(client, tar_dir(newer)).status_code == 201
    versions = [m["version"] for m in js(client.get("/api/v1/models", headers=ADMIN))]
    assert versions == ["1.0.0", "1.1.0"]


def test_the_stored_manifest_is_re_signed_with_the_fleet_key(
    client: FlaskClient, published: Path, signing_key: Path, tmp_path: Path
) -> None:
    # given a package signed by some publisher key, now published
    uploaded_manifest = (published / "manifest.json").read_bytes()
    # when the artifact is downloaded
    files = untar(download(client))
    # then the manifest bytes are unchanged and the signature is the fleet key's
    prefix = f"{MODEL}/1.0.0"
    assert files[f"{prefix}/manifest.json"] == uploaded_manifest
    assert files[f"{prefix}/manifest.sig"] != (published / "manifest.sig").read_bytes()
    public = serialization.load_pem_public_key(signing_key.with_suffix(".pub").read_bytes())
    assert isinstance(public, Ed25519PublicKey)
    public.verify(files[f"{prefix}/manifest.sig"], files[f"{prefix}/manifest.json"])  # raises if invalid
    # and a gateway trusting only the fleet key accepts the package
    with tarfile.open(fileobj=io.BytesIO(download(client))) as tar:
        tar.extractall(tmp_path / "gateway", filter="data")
    verified = verify_package(tmp_path / "gateway" / prefix, TrustedKeys.from_paths([signing_key.with_suffix(".pub")]))
    assert verified.manifest.version == "1.0.0"
    served = client.get("/api/v1/fleet-key", headers=ADMIN).data
    assert served == signing_key.with_suffix(".pub").read_bytes()
    assert b"PRIVATE" not in served


def _replaced(package: Path, file_name: str, data: bytes) -> list[tuple[str, bytes | None, bytes]]:
    return [(n, k, data if n.endswith("/" + file_name) else d) for n, k, d in package_entries(package)]


def _broken_tars(package: Path) -> dict[str, tuple[bytes, str]]:
    """Name -> (tar bytes, a phrase the refusal must contain)."""
    prefix = f"{MODEL}/1.0.0"
    good = package_entries(package)
    listed = {name: (package / name).read_bytes() for name in ("selftest.npz", "MODEL_CARD.md")}
    bad_sha = manifest_bytes(MODEL, "1.0.0", b"not the shipped weights", listed)
    bad_sha = json.dumps({**json.loads(bad_sha), "size": (package / "model.onnx").stat().st_size}).encode()
    return {
        "bad sha256": (tar_entries(_replaced(package, "manifest.json", bad_sha)), "sha256"),
        "wrong size": (tar_entries(_replaced(package, "model.onnx", b"short")), "bytes; the manifest says"),
        "changed card": (tar_entries(_replaced(package, "MODEL_CARD.md", b"# edited")), "MODEL_CARD.md: sha256"),
        "path traversal": (tar_entries([*good, (f"{prefix}/../../evil.sh", None, b"x")]), "'..'"),
        "absolute path": (tar_entries([*good, ("/etc/cron.d/evil", None, b"x")]), "absolute path"),
        "symlink": (tar_entries([*good[:-1], (f"{prefix}/selftest.npz", tarfile.SYMTYPE, b"/etc/passwd")]), "link"),
        "hard link": (tar_entries([*good, (f"{prefix}/extra", tarfile.LNKTYPE, b"/etc/shadow")]), "link"),
        "device": (tar_entries([*good, (f"{prefix}/null", tarfile.CHRTYPE, b"")]), "device"),
        "missing selftest": (tar_entries([e for e in good if "selftest" not in e[0]]), "selftest.npz is missing"),
        "missing manifest": (tar_entries([e for e in good if "manifest.json" not in e[0]]), "manifest.json is missing"),
        "extra file": (tar_entries([*good, (f"{prefix}/notes.txt", None, b"x")]), "unexpected file"),
        "two packages": (tar_entries([*good, (f"{MODEL}/2.0.0/notes.txt", None, b"x")]), "one package per tar"),
        "invalid manifest": (
            tar_entries(_replaced(package, "manifest.json", b'{"name": "x"}')),
            "manifest.json is invalid",
        ),
        "not a tar": (b"PK\x03\x04 this is a zip, not a tar" * 20, "not a readable uncompressed tar"),
        "gzip": (gzip.compress(tar_dir(package)), "not a readable uncompressed tar"),
    }


def test_broken_or_unsafe_packages_are_refused_with_a_reason(client: FlaskClient, package: Path) -> None:
    # given tars that are tampered with, unsafe or incomplete
    for case, (data, phrase) in _broken_tars(package).items():
        # when each is uploaded
        answer = upload(client, data)
        # then it is refused with 400 and a reason that says what is wrong
        assert answer.status_code == 400, case
        assert js(answer)["error"] == "bad_package", case
        assert phrase in js(answer)["detail"], (case, js(answer)["detail"])
    # and nothing was published
    assert js(client.get("/api/v1/models", headers=ADMIN)) == []


def test_a_package_larger_than_the_limit_is_refused(client: FlaskClient, tmp_path: Path) -> None:
    # given a package bigger than the 4 MiB limit of the test app
    large = make_package(tmp_path / "large", model=b"\x01" * (5 * 1024 * 1024))
    # when it is uploaded
    answer = upload(client, tar_dir(large))
    # then it is refused as too large
    assert answer.status_code == 413
    assert js(answer)["error"] == "too_large"


@pytest.mark.parametrize("who", ["nobody", "device"])
def test_only_the_admin_may_publish(client: FlaskClient, package: Path, who: str) -> None:
    # given a caller without a token, or with a device token
    headers = {} if who == "nobody" else bearer(add_device(client, "gw-1"))
    # when it uploads a package
    answer = upload(client, tar_dir(package), headers)
    # then it is refused (401 unknown caller, 403 device)
    assert answer.status_code == (401 if who == "nobody" else 403)
    assert js(client.get("/api/v1/models", headers=ADMIN)) == []

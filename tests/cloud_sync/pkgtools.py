"""Test helpers: small model package directories and tars (good ones and deliberately broken ones)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge_agent.contracts import (
    GrayscaleStep,
    InputSpec,
    Manifest,
    OutputSpec,
    OutputTensor,
    ResizeStep,
    Thresholds,
)

MODEL = "line-qi"
PUBLISHER_KEY = Ed25519PrivateKey.generate()


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest_bytes(name: str, version: str, model: bytes, files: dict[str, bytes], **changes: object) -> bytes:
    """manifest.json text of a small quality-inspection model listing `files`, with optional top-level changes."""
    manifest = Manifest(
        name=name,
        version=version,
        task="quality_inspection",
        runtime="onnx",
        file="model.onnx",
        sha256=_digest(model),
        size=len(model),
        files={file_name: _digest(data) for file_name, data in files.items()},
        input=InputSpec(
            name="image",
            shape=[1, 64, 64, 1],
            dtype="uint8",
            layout="NHWC",
            preprocessing=[GrayscaleStep(), ResizeStep(width=64, height=64)],
        ),
        output=OutputSpec(
            tensors=[OutputTensor(name="p", shape=[1, 2], dtype="float32", meaning="class_probabilities")],
            labels=["ok", "ng"],
            negative_label="ok",
        ),
        thresholds=Thresholds(ng_score=0.5),
        min_agent_version="0.1.0",
        created="2026-01-01T00:00:00+00:00",
        description=f"{name} test model",
    )
    document = manifest.model_dump(mode="json")
    document.update(changes)
    return (json.dumps(document, indent=2) + "\n").encode()


def make_package(root: Path, version: str = "1.0.0", name: str = MODEL, model: bytes | None = None) -> Path:
    """Write NAME/VERSION/ under root with all five files; returns the package directory."""
    model = model if model is not None else f"model weights of {name} {version}".encode() * 64
    package = root / name / version
    package.mkdir(parents=True)
    buffer = io.BytesIO()
    np.savez(buffer, inputs=np.zeros((2, 64, 64, 1), np.uint8), expected_0=np.array([[1.0, 0.0], [1.0, 0.0]]))
    files = {"selftest.npz": buffer.getvalue(), "MODEL_CARD.md": f"# {name} {version}\n\nA test model.\n".encode()}
    manifest = manifest_bytes(name, version, model, files)
    (package / "manifest.json").write_bytes(manifest)
    # Signed by some publisher key the fleet does not trust: cloud-sync must replace it.
    (package / "manifest.sig").write_bytes(PUBLISHER_KEY.sign(manifest))
    (package / "model.onnx").write_bytes(model)
    for file_name, data in files.items():
        (package / file_name).write_bytes(data)
    return package


def tar_dir(package: Path, prefix: str | None = None) -> bytes:
    """An uncompressed tar of a package directory as NAME/VERSION/FILE (or PREFIX/FILE)."""
    prefix = prefix or f"{package.parent.name}/{package.name}"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(package.iterdir()):
            tar.add(path, arcname=f"{prefix}/{path.name}")
    return buffer.getvalue()


def tar_entries(entries: list[tuple[str, bytes | None, bytes]]) -> bytes:
    """A tar built entry by entry: (name, tar type, data); any type, any name (for attacks)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, kind, data in entries:
            info = tarfile.TarInfo(name)
            info.type = kind or tarfile.REGTYPE
            if info.type in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = data.decode()
                tar.addfile(info)
            elif info.type == tarfile.REGTYPE:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return buffer.getvalue()


def package_entries(package: Path) -> list[tuple[str, bytes | None, bytes]]:
    """The entries of a good package, for tests that add or change one."""
    prefix = f"{package.parent.name}/{package.name}"
    return [(f"{prefix}/{path.name}", None, path.read_bytes()) for path in sorted(package.iterdir())]


def untar(data: bytes) -> dict[str, bytes]:
    """Member name -> bytes of every regular file in a tar."""
    files = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for member in tar.getmembers():
            if member.isfile():
                handle = tar.extractfile(member)
                assert handle is not None
                files[member.name] = handle.read()
    return files

"""Read and verify a model package directory: signature, manifest schema, size, sha256, agent version."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from edge_agent import __version__
from edge_agent.contracts import Manifest, semver_key
from edge_agent.errors import IncompatibleModelError, IntegrityError, ManifestError, ModelPackageError
from edge_agent.signing import TrustedKeys

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
SELFTEST = "selftest.npz"
MODEL_CARD = "MODEL_CARD.md"
MAX_MANIFEST_BYTES = 1 << 20
_CHUNK = 1 << 20


@dataclass(frozen=True)
class ModelPackage:
    """A verified package: its signed manifest and where its files are."""

    root: Path
    manifest: Manifest
    manifest_bytes: bytes
    signed_by: str

    @property
    def model_path(self) -> Path:
        """Path of the model file."""
        return self.root / self.manifest.file

    @property
    def selftest_path(self) -> Path:
        """Path of selftest.npz."""
        return self.root / SELFTEST

    @property
    def ident(self) -> str:
        """name@version, for logs and messages."""
        return f"{self.manifest.name}@{self.manifest.version}"


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _read(root: Path, name: str, limit: int | None = None) -> bytes:
    path = root / name
    try:
        if limit is not None and path.stat().st_size > limit:
            raise ManifestError(f"{path}: {path.stat().st_size} bytes; at most {limit} allowed")
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise ModelPackageError(f"{root}: package has no {name}") from exc
    except OSError as exc:
        raise ModelPackageError(f"{path}: cannot read ({exc.strerror})") from exc


def parse_manifest(data: bytes, origin: str) -> Manifest:
    """Validate manifest bytes against the schema; errors name the key and what is wrong."""
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{origin}: manifest is not valid UTF-8 JSON ({exc})") from exc
    try:
        return Manifest.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in exc.errors()
        )
        raise ManifestError(f"{origin}: manifest is invalid: {problems}") from exc


def verify_package(root: Path, trusted: TrustedKeys, agent_version: str = __version__) -> ModelPackage:
    """Check a package before any runtime sees its model file; raise ModelPackageError if unusable."""
    root = Path(root)
    if not root.is_dir():
        raise ModelPackageError(f"{root}: not a model package directory")
    manifest_bytes = _read(root, MANIFEST, MAX_MANIFEST_BYTES)
    signature = _read(root, SIGNATURE, 1024)
    try:
        signed_by = trusted.verify(manifest_bytes, signature)
    except ModelPackageError as exc:
        raise type(exc)(f"{root / SIGNATURE}: {exc}") from exc
    manifest = parse_manifest(manifest_bytes, str(root / MANIFEST))
    if semver_key(manifest.min_agent_version) > semver_key(agent_version):
        raise IncompatibleModelError(
            f"{root}: {manifest.name}@{manifest.version} needs edge-agent >= {manifest.min_agent_version}; "
            f"this is {agent_version}"
        )
    model_path = root / manifest.file
    try:
        size = model_path.stat().st_size
    except FileNotFoundError as exc:
        raise IntegrityError(f"{root}: model file {manifest.file} is missing") from exc
    if size != manifest.size:
        raise IntegrityError(f"{model_path}: {size} bytes; the manifest says {manifest.size}")
    digest = file_sha256(model_path)
    if digest != manifest.sha256:
        raise IntegrityError(f"{model_path}: sha256 {digest[:16]}... does not match the manifest")
    expected = {MANIFEST, SIGNATURE, manifest.file, *manifest.files}
    extra = sorted(p.name for p in root.iterdir() if p.name not in expected)
    if extra:
        raise IntegrityError(f"{root}: files the manifest does not list: {', '.join(extra)}")
    for name, digest in manifest.files.items():
        path = root / name
        if not path.is_file():
            raise IntegrityError(f"{root}: package has no {name}")
        if file_sha256(path) != digest:
            raise IntegrityError(f"{path}: sha256 does not match the manifest")
    return ModelPackage(root=root, manifest=manifest, manifest_bytes=manifest_bytes, signed_by=signed_by)

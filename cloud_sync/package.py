"""Uploaded package tars: safe extraction, validation against the manifest, and the signed artifact tar."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import tarfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pydantic import ValidationError

from cloud_sync.errors import PackageRejected
from edge_agent.contracts import Manifest

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
SELFTEST = "selftest.npz"
MODEL_CARD = "MODEL_CARD.md"
RESERVED = (MANIFEST, SIGNATURE, SELFTEST, MODEL_CARD)
MAX_MEMBERS = 32
LIMITS = {MANIFEST: 1 << 20, SIGNATURE: 1024, MODEL_CARD: 4 << 20}
_FILE_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


@dataclass(frozen=True)
class CheckedPackage:
    """A package whose structure, manifest and model file passed every check."""

    manifest: Manifest
    manifest_bytes: bytes
    files: dict[str, Path]
    content_sha256: str


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _member_kind(member: tarfile.TarInfo) -> str | None:
    """Why this entry is not acceptable, or None for a regular file or directory."""
    if member.issym() or member.islnk():
        return "is a link"
    if member.ischr() or member.isblk() or member.isfifo():
        return "is a device or FIFO"
    if member.issparse():
        return "is a sparse file"
    if not (member.isreg() or member.isdir()):
        return "is not a regular file or directory"
    return None


def _extract(upload: Path, workdir: Path, max_bytes: int) -> tuple[str, str, dict[str, Path]]:
    """Copy the regular files of NAME/VERSION/ into workdir; returns NAME, VERSION and the files."""
    prefix: tuple[str, str] | None = None
    files: dict[str, Path] = {}
    total = 0
    try:
        with tarfile.open(upload, mode="r:") as tar:
            for count, member in enumerate(tar, start=1):
                if count > MAX_MEMBERS:
                    raise PackageRejected(f"more than {MAX_MEMBERS} entries; a package has a handful of files")
                raw = member.name
                if raw.startswith("/") or PurePosixPath(raw).is_absolute():
                    raise PackageRejected(f"{raw}: absolute path")
                parts = PurePosixPath(raw).parts
                if ".." in parts:
                    raise PackageRejected(f"{raw}: path climbs out with '..'")
                problem = _member_kind(member)
                if problem:
                    raise PackageRejected(f"{raw}: {problem}")
                if member.isdir():
                    if not 1 <= len(parts) <= 2:
                        raise PackageRejected(f"{raw}: unexpected directory; a package is NAME/VERSION/FILES")
                    continue
                if len(parts) != 3:
                    raise PackageRejected(f"{raw}: files must sit directly in NAME/VERSION/")
                if prefix is not None and parts[:2] != prefix:
                    raise PackageRejected(f"{raw}: outside {prefix[0]}/{prefix[1]}/; one package per tar")
                prefix = (parts[0], parts[1])
                name = parts[2]
                if not _FILE_NAME.match(name):
                    raise PackageRejected(f"{raw}: file names use letters, digits, '.', '_' and '-' only")
                if name in files:
                    raise PackageRejected(f"{raw}: appears twice")
                limit = LIMITS.get(name, max_bytes)
                if member.size > limit:
                    raise PackageRejected(f"{raw}: {member.size} bytes; at most {limit} allowed")
                total += member.size
                if total > max_bytes:
                    raise PackageRejected(f"more than {max_bytes} bytes unpacked")
                source = tar.extractfile(member)
                if source is None:
                    raise PackageRejected(f"{raw}: cannot be read")
                # Written by us under a checked single-component name; tar.extract is never used.
                target = workdir / name
                with source, target.open("wb") as out:
                    while chunk := source.read(1 << 20):
                        out.write(chunk)
                files[name] = target
    except tarfile.TarError as exc:
        raise PackageRejected(f"not a readable uncompressed tar ({exc})") from exc
    except EOFError as exc:
        raise PackageRejected("the tar ends early (truncated upload?)") from exc
    if prefix is None:
        raise PackageRejected("no files under NAME/VERSION/")
    return prefix[0], prefix[1], files


def _parse_manifest(data: bytes) -> Manifest:
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PackageRejected(f"{MANIFEST} is not valid UTF-8 JSON ({exc})") from exc
    try:
        return Manifest.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in exc.errors()
        )
        raise PackageRejected(f"{MANIFEST} is invalid: {problems}") from exc


def check_package(upload: Path, workdir: Path, max_bytes: int) -> CheckedPackage:
    """Extract and verify an uploaded package tar; PackageRejected names the first problem."""
    name, version, files = _extract(upload, workdir, max_bytes)
    if MANIFEST not in files:
        raise PackageRejected(f"{name}/{version}/{MANIFEST} is missing")
    manifest_bytes = files[MANIFEST].read_bytes()
    manifest = _parse_manifest(manifest_bytes)
    if (manifest.name, manifest.version) != (name, version):
        raise PackageRejected(
            f"the tar holds {name}/{version}/ but the manifest says {manifest.name} {manifest.version}"
        )
    if manifest.file in RESERVED:
        raise PackageRejected(f"manifest file {manifest.file!r} collides with a package file name")
    listed = dict(manifest.files)
    for reserved in (MANIFEST, SIGNATURE, manifest.file):
        if reserved in listed:
            raise PackageRejected(f"manifest files lists {reserved}, which the manifest covers otherwise")
    if MODEL_CARD not in listed:
        raise PackageRejected(
            f"manifest files must list {MODEL_CARD} with its sha256 (gateways accept listed files only)"
        )
    for required in (manifest.file, *sorted(listed)):
        if required not in files:
            raise PackageRejected(f"{name}/{version}/{required} is missing")
    unexpected = sorted(set(files) - {MANIFEST, SIGNATURE, manifest.file, *listed})
    if unexpected:
        raise PackageRejected(f"unexpected file(s) {', '.join(unexpected)}: not listed in the manifest")
    model = files[manifest.file]
    size = model.stat().st_size
    if size != manifest.size:
        raise PackageRejected(f"{manifest.file}: {size} bytes; the manifest says {manifest.size}")
    digest = _sha256(model)
    if digest != manifest.sha256:
        raise PackageRejected(f"{manifest.file}: sha256 {digest[:16]}... does not match the manifest")
    for listed_name, listed_sha256 in sorted(listed.items()):
        if _sha256(files[listed_name]) != listed_sha256:
            raise PackageRejected(f"{listed_name}: sha256 does not match the manifest")
    if not zipfile.is_zipfile(files[SELFTEST]):
        raise PackageRejected(f"{SELFTEST} is not a numpy .npz archive")
    try:
        files[MODEL_CARD].read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise PackageRejected(f"{MODEL_CARD} is not UTF-8 text") from exc
    # The uploaded signature is ignored (it is replaced), so it is not part of the content identity.
    content = hashlib.sha256()
    for file_name in sorted(set(files) - {SIGNATURE}):
        content.update(f"{file_name}\0{_sha256(files[file_name])}\n".encode())
    return CheckedPackage(manifest, manifest_bytes, files, content.hexdigest())


def write_artifact(package: CheckedPackage, signature: bytes, out: Path) -> tuple[str, int]:
    """Write the signed package tar (NAME/VERSION/...) to out; returns its sha256 and size."""
    manifest = package.manifest
    root = f"{manifest.name}/{manifest.version}"
    mtime = int(time.time())
    signature_path = out.with_name(out.name + ".sig")
    signature_path.write_bytes(signature)
    ordered = [
        (MANIFEST, package.files[MANIFEST]),
        (SIGNATURE, signature_path),
        (manifest.file, package.files[manifest.file]),
        *[(listed, package.files[listed]) for listed in sorted(manifest.files)],
    ]
    with tarfile.open(out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for directory in (manifest.name, root):
            info = tarfile.TarInfo(directory)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, mtime
            tar.addfile(info)
        for file_name, path in ordered:
            info = tarfile.TarInfo(f"{root}/{file_name}")
            info.size, info.mode, info.mtime = path.stat().st_size, 0o644, mtime
            with path.open("rb") as handle:
                tar.addfile(info, handle)
    signature_path.unlink()
    log.debug("wrote artifact %s for %s", out, root)
    return _sha256(out), out.stat().st_size

"""Safe extraction of a package tar (NAME/VERSION/...) into a staging directory, and its checks there."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path, PurePosixPath

from edge_agent.contracts import Manifest, semver_key
from edge_agent.errors import ModelPackageError
from edge_agent.packages import file_sha256, verify_package
from edge_agent.signing import TrustedKeys

MAX_MEMBERS = 64
MAX_TOTAL_BYTES = 2 * 1024 * 1024 * 1024


def extract_package(archive: Path, staging: Path, name: str, version: str) -> Path:
    """Extract only regular files under NAME/VERSION/ into staging; returns the package directory."""
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    prefix = PurePosixPath(name) / version
    target = staging / name / version
    total = 0
    try:
        with tarfile.open(archive, mode="r:") as tar:
            members = tar.getmembers()
            if len(members) > MAX_MEMBERS:
                raise ModelPackageError(f"{archive.name}: {len(members)} entries; a package has at most {MAX_MEMBERS}")
            for member in members:
                path = PurePosixPath(member.name)
                if member.isdir() and path in (PurePosixPath(name), prefix):
                    continue
                if not member.isfile():
                    raise ModelPackageError(f"{archive.name}: {member.name} is not a regular file")
                if path.is_absolute() or ".." in path.parts or path.parent != prefix:
                    raise ModelPackageError(f"{archive.name}: {member.name} is outside {prefix}/")
                total += member.size
                if total > MAX_TOTAL_BYTES:
                    raise ModelPackageError(f"{archive.name}: more than {MAX_TOTAL_BYTES} bytes unpacked")
                source = tar.extractfile(member)
                if source is None:
                    raise ModelPackageError(f"{archive.name}: cannot read {member.name}")
                target.mkdir(parents=True, exist_ok=True)
                with source, (target / path.name).open("wb") as out:
                    shutil.copyfileobj(source, out, 1 << 20)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ModelPackageError(f"{archive.name}: not a readable package tar ({exc})") from exc
    if not target.is_dir():
        raise ModelPackageError(f"{archive.name}: no {prefix}/ inside")
    return target


def verify_artifact(
    artifact: Path, staging: Path, name: str, version: str, trusted: TrustedKeys, active: Manifest | None
) -> Path:
    """Unpack and check a downloaded package before any runtime may see it; returns the staged directory."""
    staged = extract_package(artifact, staging, name, version)
    package = verify_package(staged, trusted)
    manifest = package.manifest
    if (manifest.name, manifest.version) != (name, version):
        raise ModelPackageError(f"package is {manifest.name}@{manifest.version}, the offer was {name}@{version}")
    if active is not None and semver_key(manifest.version) <= semver_key(active.version):
        same = manifest.version == active.version
        different = same and file_sha256(package.model_path) != active.sha256
        what = "the same version with different bytes as" if different else "not newer than"
        raise ModelPackageError(f"{manifest.version} is {what} the active {active.version}")
    return staged

"""Safe extraction of a package tar (NAME/VERSION/...) into a staging directory."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path, PurePosixPath

from edge_agent.errors import ModelPackageError

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

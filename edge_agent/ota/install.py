"""Where packages live on a gateway and the atomic pointer that says which version is active."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from edge_agent.errors import ModelPackageError
from edge_agent.model_manager import CURRENT_LINK

log = logging.getLogger(__name__)
PREVIOUS_LINK = "previous"
OTA_DIR = ".ota"


def _fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def read_pointer(models_dir: Path, name: str, link: str = CURRENT_LINK) -> str | None:
    """The version a pointer names, or None."""
    pointer = models_dir / name / link
    if not pointer.is_symlink():
        return None
    return os.readlink(pointer).rstrip("/").split("/")[-1]


def set_pointer(models_dir: Path, name: str, version: str, link: str = CURRENT_LINK) -> None:
    """Point NAME/link at NAME/version with one atomic rename (a crash leaves the old or the new pointer)."""
    base = models_dir / name
    if not (base / version).is_dir():
        raise ModelPackageError(f"{base / version} is not installed")
    temporary = base / f".{link}.tmp"
    if temporary.is_symlink() or temporary.exists():
        temporary.unlink()
    os.symlink(version, temporary)
    os.replace(temporary, base / link)
    _fsync_dir(base)


def point_to(models_dir: Path, name: str, version: str) -> str | None:
    """Make NAME/version current and the version it replaces NAME/previous; returns that version."""
    previous = read_pointer(models_dir, name)
    set_pointer(models_dir, name, version)
    if previous:
        set_pointer(models_dir, name, previous, PREVIOUS_LINK)
    return previous


def install_staged(staged: Path, models_dir: Path, name: str, version: str) -> Path:
    """Move a verified staged package to NAME/VERSION (one rename on the same filesystem)."""
    target = models_dir / name / version
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        shutil.rmtree(target)  # an earlier, never-activated copy of the same offer
    os.replace(staged, target)
    _fsync_dir(target.parent)
    return target


def free_bytes(path: Path) -> int:
    """Bytes available to us on the filesystem of path."""
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def ota_dir(models_dir: Path) -> Path:
    """The OTA work area inside the models directory (same filesystem, so renames are atomic)."""
    return models_dir / OTA_DIR


def clean_work_area(models_dir: Path, keep_parts: set[str]) -> list[Path]:
    """Remove staging leftovers, temporary pointers and downloads no offer needs; returns what went."""
    removed: list[Path] = []
    work = ota_dir(models_dir)
    staging = work / "staging"
    if staging.exists():
        for child in staging.iterdir():
            shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink(missing_ok=True)
            removed.append(child)
    downloads = work / "downloads"
    if downloads.exists():
        for child in downloads.iterdir():
            if child.name not in keep_parts:
                child.unlink(missing_ok=True)
                removed.append(child)
    for link in (CURRENT_LINK, PREVIOUS_LINK):  # set_pointer's temporary link, torn by a crash
        for pointer in models_dir.glob(f"*/.{link}.tmp"):
            pointer.unlink(missing_ok=True)
            removed.append(pointer)
    for temporary in work.glob("*.tmp"):  # a write torn by a crash; the real file is intact
        temporary.unlink(missing_ok=True)
        removed.append(temporary)
    if removed:
        log.info("removed %d stale OTA files", len(removed))
    return removed

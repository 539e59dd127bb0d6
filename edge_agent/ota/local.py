"""Operator actions on a gateway's installed models, without the cloud (`edge-agent models rollback`)."""

from __future__ import annotations

from pathlib import Path

from edge_agent.errors import ModelPackageError
from edge_agent.ota.install import ota_dir, read_pointer, set_pointer
from edge_agent.ota.state import Offer, StateFile


def rollback_on_disk(models_dir: Path, name: str, reason: str = "operator rollback") -> tuple[str, str]:
    """Point NAME/current back at NAME/previous; the running agent swaps models within seconds."""
    current = read_pointer(models_dir, name)
    previous = read_pointer(models_dir, name, "previous")
    if previous is None:
        raise ModelPackageError(f"{name}: no previous version recorded; nothing to roll back to")
    if previous == current:
        raise ModelPackageError(f"{name}: {current} is already the previous version")
    if not (models_dir / name / previous / "manifest.json").is_file():
        raise ModelPackageError(f"{name}: previous version {previous} is no longer installed")
    set_pointer(models_dir, name, previous)
    state = StateFile(ota_dir(models_dir) / "state.json")
    offer = state.record.offers.get(name)
    if offer is not None and offer.version == current:
        state.transition(offer, "rolled_back", reason)
    elif current is not None:
        placeholder = Offer(
            name=name, version=current, artifact_url="-", artifact_sha256="-", artifact_size=1, state="committed"
        )
        state.transition(placeholder, "rolled_back", reason)
    return current or "?", previous

"""Given a crash between writing a temporary pointer and renaming it, start-up removes the torn pointer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edge_agent.ota.install import CURRENT_LINK, PREVIOUS_LINK, clean_work_area, read_pointer, set_pointer


@pytest.mark.parametrize("link", [CURRENT_LINK, PREVIOUS_LINK])
def test_a_torn_pointer_is_removed_and_the_real_pointer_kept(tmp_path: Path, link: str) -> None:
    # given a model with two versions, its pointer set, and the temporary link a killed set_pointer left
    for version in ("1.0.0", "1.1.0"):
        (tmp_path / "m" / version).mkdir(parents=True)
    set_pointer(tmp_path, "m", "1.0.0", link)
    os.symlink("1.1.0", tmp_path / "m" / f".{link}.tmp")
    # when the work area is cleaned at start-up
    removed = clean_work_area(tmp_path, keep_parts=set())
    # then the torn link is gone and the pointer still names the version it named before the crash
    assert tmp_path / "m" / f".{link}.tmp" in removed
    assert not (tmp_path / "m" / f".{link}.tmp").is_symlink()
    assert read_pointer(tmp_path, "m", link) == "1.0.0"

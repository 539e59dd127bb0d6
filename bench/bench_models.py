"""The packages the throughput benches run: every shipped model, inspection pinned to its newest single-view version.

Agent, bare pipeline and naive script must do the same model work per frame, and the naive script runs the network
once per frame; so the benches run inspection packages without test-time views. `bench/inference.py` reports what
the views of the newest package cost per frame.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "models"
_made: list[Path] = []


def _views(version_dir: Path) -> int:
    return int(json.loads((version_dir / "manifest.json").read_text())["input"].get("test_time_views", 1))


def bench_models() -> Path:
    """A models directory (made once per process, removed at exit) of symlinks to the shipped single-view packages."""
    if _made:
        return _made[0]
    root = Path(tempfile.mkdtemp(prefix="bench-models-"))
    atexit.register(shutil.rmtree, root, True)
    (root / "keys").symlink_to(SHIPPED / "keys")
    for model in sorted(p for p in SHIPPED.iterdir() if p.is_dir()):
        versions = [v for v in model.iterdir() if (v / "manifest.json").is_file() and _views(v) == 1]
        if versions:
            (root / model.name).mkdir()
            for version in versions:
                (root / model.name / version.name).symlink_to(version)
    _made.append(root)
    return root

"""A venv with pysparkplug (a real Sparkplug B implementation) and the node script that uses it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
NODE_SCRIPT = REPO / "tests" / "sparkplug_node.py"
SPARKPLUG_VENV = REPO / ".cache" / "sparkplug-venv"
PYSPARKPLUG = "pysparkplug>=0.6.1,<0.7"


@pytest.fixture(scope="session")
def pysparkplug_python() -> Path:
    """A venv with pysparkplug (it pins paho-mqtt<2, so it cannot live in ours), built once under .cache/."""
    python = SPARKPLUG_VENV / "bin" / "python"

    def usable() -> bool:
        probe = "import pysparkplug, sys; sys.exit(not pysparkplug.__version__.startswith('0.6'))"
        return python.exists() and subprocess.run([str(python), "-c", probe], capture_output=True).returncode == 0

    if usable():
        return python
    SPARKPLUG_VENV.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{SPARKPLUG_VENV.name}.", dir=SPARKPLUG_VENV.parent))
    try:
        for step in (
            [sys.executable, "-m", "venv", "--clear", str(staging)],
            [str(staging / "bin" / "python"), "-m", "pip", "install", "--quiet", PYSPARKPLUG],
        ):
            done = subprocess.run(step, capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                pytest.fail(
                    f"could not build the pysparkplug venv for the Sparkplug interop test ({' '.join(step)}); "
                    f"it needs network access to PyPI:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
                )
        if not usable():  # another test run may have finished first
            shutil.rmtree(SPARKPLUG_VENV, ignore_errors=True)
            staging.rename(SPARKPLUG_VENV)  # a venv's python runs fine from a renamed directory
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    assert usable(), f"{SPARKPLUG_VENV} was built but cannot import pysparkplug"
    return python


def run_node(python: Path, *args: str, stdin: str | None = None) -> dict[str, Any]:
    done = subprocess.run(
        [str(python), str(NODE_SCRIPT), *args], input=stdin, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)

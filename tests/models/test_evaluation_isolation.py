"""Training never sees the clean-room generator: only the evaluation runners import models.evaluation."""

from __future__ import annotations

import ast
from pathlib import Path

TRAINING = Path(__file__).resolve().parents[2] / "models" / "training"
# Runners that measure shipped packages on both generators; nothing that trains, calibrates or packages.
RUNNERS = {"evaluate.py", "eval_surface_worlds.py", "eval_vibration_worlds.py"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_given_the_training_package_when_its_imports_are_read_then_only_the_runners_reach_the_clean_room() -> None:
    offenders = {
        path.name
        for path in TRAINING.glob("*.py")
        if path.name not in RUNNERS and any(n.startswith("models.evaluation") for n in _imports(path))
    }
    assert offenders == set()


def test_given_the_runners_when_their_imports_are_read_then_they_do_reach_the_clean_room() -> None:
    # the isolation test above would pass vacuously if the runners had moved or stopped measuring
    reached = {p.name for p in TRAINING.glob("eval_*_worlds.py") if any("models.evaluation" in n for n in _imports(p))}
    assert reached == {"eval_surface_worlds.py", "eval_vibration_worlds.py"}

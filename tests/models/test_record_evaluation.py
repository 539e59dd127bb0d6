"""Given a shipped package, recording gateway-path figures in its model card keeps it a valid signed package."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edge_agent.errors import ModelPackageError
from edge_agent.loading import load_model
from edge_agent.signing import TrustedKeys, key_id, load_private_key
from models.training.package import DEV_KEY, EVALUATION_HEADING, record_evaluation

REPO = Path(__file__).resolve().parents[2]


def test_recording_twice_leaves_one_section_and_a_package_that_loads(tmp_path: Path) -> None:
    # given a copy of the shipped health package
    package = tmp_path / "bearing-health" / "1.0.0"
    shutil.copytree(REPO / "models" / "bearing-health" / "1.0.0", package)
    key = load_private_key(DEV_KEY)
    trusted = TrustedKeys({key_id(key.public_key()): key.public_key()})
    # when figures are recorded, then recorded again with new figures
    record_evaluation(package, f"{EVALUATION_HEADING}\n\n| state accuracy | 99.00% |", key)
    record_evaluation(package, f"{EVALUATION_HEADING}\n\n| state accuracy | 99.50% |", key)
    # then the card holds the newest section once, the rest of the card is kept, and the package loads
    card = (package / "MODEL_CARD.md").read_text()
    assert card.count(EVALUATION_HEADING) == 1 and "99.50%" in card and "99.00%" not in card
    assert "## Held-out metrics" in card
    load_model(package, trusted).runtime.close()
    # and a card edited by hand afterwards no longer matches the signed manifest
    (package / "MODEL_CARD.md").write_text(card + "\nedited\n")
    with pytest.raises(ModelPackageError):
        load_model(package, trusted)

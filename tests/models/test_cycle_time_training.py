"""Given the cycle-time training script, when it runs again, then it rebuilds the shipped package's model byte for
byte (deterministic: fixed simulator seeds, numpy fit, hand-written graph) and its held-out bounds are calibrated."""

from __future__ import annotations

import hashlib
import json

from models.training.train_cycle_time import train
from tests.conftest import MODELS


def test_training_reproduces_the_shipped_model_and_calibrated_bounds() -> None:
    trained = train(seed=0)
    shipped = json.loads((MODELS / "cycle-time" / "1.0.0" / "manifest.json").read_text())
    assert hashlib.sha256(trained.model_bytes).hexdigest() == shipped["sha256"]
    for unit, metrics in trained.training["metrics"].items():
        # held-out healthy cycles: about 1% over the 99% bound, a few per mille over the 99.9% bound
        assert metrics["over_p99_pct"] <= 2.0 and metrics["over_p999_pct"] <= 0.5, unit
        assert metrics["median_abs_error_pct"] <= 1.5, unit

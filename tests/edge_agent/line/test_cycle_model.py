"""Given the shipped cycle-time package, when a gateway loads it (signature, sha256, self-test, ONNX Runtime), then it
expects what its tables say per unit, product, speed and upstream state, and a tampered package never replaces it."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from edge_agent.app.pipelines import build_pipeline
from edge_agent.errors import IntegrityError, ModelPackageError
from edge_agent.line.cycle_model import CycleModel, CycleModelSource
from edge_agent.line.cycles import Cycle
from edge_agent.loading import load_model
from edge_agent.signing import TrustedKeys
from models.training.cycle_time import predict
from models.training.retrain_cycle_time import current_fits
from tests.conftest import KEYS, MODELS

PACKAGE = MODELS / "cycle-time" / "1.0.0"


@pytest.fixture(scope="module")
def model() -> CycleModel:
    return CycleModel(load_model(PACKAGE, TrustedKeys.from_paths([KEYS])))


def _expect(model: CycleModel, unit: str, product: str | None, speed: float | None, down: float = 0.0) -> float:
    found = model.expect([Cycle(unit, 0, 1, product, speed, down)])[0]
    assert found is not None
    return found.expected_s


def test_it_expects_each_stations_own_cycle_per_product_speed_and_feeder(model: CycleModel) -> None:
    # then the demo stations' healthy cycles (ideal x speed factor) are what it expects at nominal speed
    assert _expect(model, "press-1", "A", 100.0) == pytest.approx(4.0 * 1.1, rel=0.01)
    assert _expect(model, "press-1", "B", 100.0) == pytest.approx(5.0 * 1.1, rel=0.01)
    assert _expect(model, "weld-2", "B", 100.0) == pytest.approx(6.5 * 1.05, rel=0.01)
    # and a slower setpoint makes a proportionally longer cycle, a stopped feeder 8% longer
    assert _expect(model, "press-1", "A", 90.0) == pytest.approx(4.4 / 0.9, rel=0.01)
    assert _expect(model, "pack-3", "A", 100.0, down=1.0) == pytest.approx(3.45 * 1.08, rel=0.01)
    # and an unknown product gets the unit's pooled cycle, an unknown unit no expectation at all
    assert 4.4 < _expect(model, "press-1", "Z", None) < 5.5
    assert model.expect([Cycle("oven-9", 0, 1, "A", 100.0)]) == [None]


def test_the_onnx_graph_computes_the_model_cards_formula(model: CycleModel) -> None:
    # given random cycles over every unit, product (and an unknown one), speed and feeder share
    fits = current_fits(PACKAGE)
    rng = random.Random(5)
    cycles = [
        Cycle(u, 0, 1, rng.choice(["A", "B", "Z"]), rng.choice([85.0, 100.0, 120.0]), rng.random())
        for u in rng.choices(list(fits), k=200)
    ]
    # when the runtime runs them in one batch; then each output equals the formula on the package's tables
    got = model.expect(cycles)
    for cycle, expectation in zip(cycles, got):
        assert expectation is not None and cycle.speed is not None
        f = fits[cycle.unit]
        want = predict(f, cycle.product, cycle.speed / f.nominal_speed, cycle.upstream_down)
        have = (expectation.expected_s, expectation.p99_s, expectation.p999_s, expectation.sigma_log)
        assert np.allclose(have, want, rtol=1e-5)


def test_a_tampered_package_is_refused_and_the_working_one_stays(tmp_path: Path) -> None:
    # given the shipped package installed, and a later version whose model bytes were altered after signing
    shutil.copytree(PACKAGE, tmp_path / "cycle-time" / "1.0.0")
    changes: list[str] = []
    source = CycleModelSource(
        tmp_path,
        "cycle-time",
        TrustedKeys.from_paths([KEYS]),
        lambda v, p: changes.append(v),
        wall=iter(range(0, 10**6, 10)).__next__,
    )
    assert source.get() is not None and changes == ["1.0.0"]
    bad = tmp_path / "cycle-time" / "1.0.1"
    shutil.copytree(PACKAGE, bad)
    (bad / "manifest.json").write_text((bad / "manifest.json").read_text().replace('"1.0.0"', '"1.0.1"'))
    # when the source looks again; then the new one is refused (its signature no longer matches) ...
    kept = source.get()
    assert kept is not None and kept.model.manifest.version == "1.0.0"
    assert source.error is not None and "1.0.1" in source.error
    # ... and a package whose model file changed is refused by its sha256
    with pytest.raises(IntegrityError):
        broken = tmp_path / "broken" / "cycle-time"
        shutil.copytree(PACKAGE, broken)
        (broken / "model.onnx").write_bytes((broken / "model.onnx").read_bytes() + b"\0")
        load_model(broken, TrustedKeys.from_paths([KEYS]))


def test_offered_as_a_pipeline_it_is_refused_with_a_reason() -> None:
    # given the package offered the way OTA builds camera and asset models; then it is refused, not half-loaded
    with pytest.raises(ModelPackageError, match="cycle-time model: the line engine runs it"):
        build_pipeline(PACKAGE, [KEYS])

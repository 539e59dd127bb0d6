"""Train cycle-time 1.0.0 on the demo stations' own cycles: healthy simulated shifts replayed through the agent's
tracker and cycle monitor (the rows it uploads), fitted per unit, judged on a held-out shift; deterministic."""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from edge_agent.contracts import InputSpec, OutputSpec, OutputTensor, Thresholds
from edge_agent.demo.plc_line import DEMO_UNITS
from edge_agent.demo.plc_replay import Replay
from edge_agent.demo.plc_sim import SimUnitSpec
from edge_agent.line.cycle_model import FEATURES, OUTPUTS
from models.training.cycle_time import COL, UnitFit, fit, onnx_bytes, predict, step_for, trainable
from models.training.package import TrainedModel

log = logging.getLogger(__name__)
NAME = "cycle-time"
SHIFT_S = 8 * 3600
BREAK_S: list[tuple[float, float]] = [(4 * 3600.0, 4 * 3600.0 + 1800)]
START_MS = 1_767_225_600_000  # 2026-01-01 00:00 UTC: any fixed past day
TRAIN_SEEDS = (101, 102, 103)
HELD_OUT_SEED = 201
LABELS = ["normal", "slow", "micro_stop", "drift"]
STOP_S = 2.0  # the agent's default micro_stop_s


def healthy(specs: Sequence[SimUnitSpec]) -> tuple[SimUnitSpec, ...]:
    """The stations without their degradation: a model learns what a healthy unit does."""
    return tuple(dataclasses.replace(spec, degrade_onset_s=None) for spec in specs)


def simulated_rows(specs: Sequence[SimUnitSpec], seeds: Sequence[int]) -> dict[str, list[list[Any]]]:
    """Upload rows (not judged: no model yet) of one shift per seed, per unit."""
    rows: dict[str, list[list[Any]]] = {}
    for seed in seeds:
        replay = Replay(tuple(specs), START_MS + seed * 86_400_000, SHIFT_S, BREAK_S, model=lambda: None, seed=seed)
        replay.run()
        for unit, unit_rows in replay.rows().items():
            rows.setdefault(unit, []).extend(unit_rows)
    return rows


def held_out_metrics(fits: dict[str, UnitFit], rows: dict[str, list[list[Any]]]) -> dict[str, Any]:
    """Per unit on unseen cycles: median absolute error of the expected cycle and the share over the 99% / 99.9%
    bounds, over cycles that are not stops (less than STOP_S over the expected cycle; those are counted apart)."""
    out: dict[str, Any] = {}
    for unit, unit_fit in fits.items():
        errors, over99, over999, stops = [], 0, 0, 0
        for row in trainable(rows.get(unit, [])):
            speed = row[COL["speed"]]
            ratio = speed / unit_fit.nominal_speed if speed and unit_fit.nominal_speed else 1.0
            expected, p99, p999, _ = predict(unit_fit, row[COL["product"]], ratio, row[COL["upstream_down"]])
            seconds = row[COL["seconds"]]
            if seconds - expected >= STOP_S:
                stops += 1
                continue
            errors.append(abs(seconds / expected - 1))
            over99 += seconds > p99
            over999 += seconds > p999
        n = max(1, len(errors))
        out[unit] = {
            "cycles": len(errors),
            "stops": stops,
            "median_abs_error_pct": round(100 * float(np.median(errors)), 3) if errors else None,
            "over_p99_pct": round(100 * over99 / n, 3),
            "over_p999_pct": round(100 * over999 / n, 3),
        }
    return out


def selftest_inputs(fits: dict[str, UnitFit]) -> np.ndarray:
    """32 feature rows over every unit, its products (and an unknown one), speeds and upstream shares."""
    rows = []
    for i in range(32):
        unit = i % len(fits)
        products = len(list(fits.values())[unit].products)
        rows.append([unit, i % (products + 1), (0.85, 1.0, 1.1, 1.25)[i % 4], (i % 5) / 4])
    return np.asarray(rows, dtype=np.float32)


def card(fits: dict[str, UnitFit]) -> str:
    """The model card's table of what each unit's model says."""
    lines = [
        "## Per-unit model",
        "",
        "log(cycle) = a[unit, product] + b * log(speed / nominal) + c * upstream_down; outputs "
        f"{', '.join(OUTPUTS)} for inputs {', '.join(FEATURES)}. The agent flags a hidden micro-stop when a cycle "
        "runs over the 99.9% bound and at least `line.cycles.micro_stop_s` over the expected cycle (both scaled by "
        "the unit's running pace), and drift by an upper CUSUM of the residuals in sigmas.",
        "",
        "| unit | cycles | products (expected s at nominal speed) | nominal speed | b (speed) | c (upstream down) | "
        "sigma | 99% | 99.9% |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for unit, f in fits.items():
        products = ", ".join(f"{p}: {math.exp(a):.3f}" for p, a in zip(f.products, f.intercepts))
        lines.append(
            f"| {unit} | {f.n} | {products} | {f.nominal_speed:g} | {f.speed_coef:.3f} | {f.upstream_coef:.3f} | "
            f"{f.sigma:.4f} | +{100 * math.expm1(f.q99):.1f}% | +{100 * math.expm1(f.q999):.1f}% |"
        )
    return "\n".join(lines)


def package(
    fits: dict[str, UnitFit], version: str, recipe: dict[str, Any], metrics: dict[str, Any], description: str
) -> TrainedModel:
    """The fitted tables as a TrainedModel for write_package."""
    return TrainedModel(
        name=NAME,
        version=version,
        task="cycle_time",
        runtime="onnx",
        file_name="model.onnx",
        model_bytes=onnx_bytes(fits),
        input=InputSpec(
            name="features", shape=[-1, len(FEATURES)], dtype="float32", layout="NF", preprocessing=[step_for(fits)]
        ),
        output=OutputSpec(
            tensors=[OutputTensor(name="cycle", shape=[-1, len(OUTPUTS)], dtype="float32", meaning="cycle_time_s")],
            labels=LABELS,
            negative_label="normal",
        ),
        thresholds=Thresholds(max_latency_ms=5.0),
        description=description,
        training={"data_recipe": recipe, "metrics": metrics},
        selftest_inputs=selftest_inputs(fits),
        selftest_labels=["normal"] * 32,
        card_markdown=card(fits),
    )


def train(seed: int = 0, quick: bool = False) -> TrainedModel:
    """Fit on healthy simulated shifts of the demo stations; metrics on a held-out shift."""
    specs = healthy(DEMO_UNITS)
    seeds = TRAIN_SEEDS[:1] if quick else TRAIN_SEEDS
    fits = fit(simulated_rows(specs, [s + seed for s in seeds]))
    metrics = held_out_metrics(fits, simulated_rows(specs, [HELD_OUT_SEED + seed]))
    recipe = {
        "source": "edge_agent.demo (PlcLine) replayed through LineTracker and CycleMonitor, degradation off",
        "units": [spec.id for spec in specs],
        "shift_s": SHIFT_S,
        "train_seeds": [s + seed for s in seeds],
        "held_out_seed": HELD_OUT_SEED + seed,
        "fit": "Huber IRLS on log(cycle), residual quantiles of inliers (< 6 robust sigmas)",
    }
    log.info("cycle-time fitted: %s", metrics)
    return package(fits, "1.0.0", recipe, metrics, "Expected cycle time per line unit, product, speed and upstream")

"""The cycle-time model: a robust (Huber) log-linear fit per unit and a tiny hand-written ONNX graph of its tables.

log(cycle) = a[unit, product] + b[unit] * log(speed / nominal) + c[unit] * upstream_down; the residual's 99% and
99.9% quantiles and robust sigma per unit give the bounds. Rows are the agent's upload rows (CYCLE_COLUMNS).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edge_agent.contracts import CycleFeaturesStep
from edge_agent.line.cycle_model import FEATURES, OUTPUTS
from edge_agent.line.cycles import CYCLE_COLUMNS

MIN_PRODUCT_CYCLES = 20  # a product with fewer cycles uses the unit's pooled row
HUBER_C = 1.345
OUTLIER_SIGMAS = 6.0  # residuals beyond this are stops, not the cycle's spread: kept out of the quantiles
TRAINABLE = ("normal", "slow", "unjudged")  # verdicts a fit may learn from (never micro-stops, never a drift)
COL = {name: i for i, name in enumerate(CYCLE_COLUMNS)}


@dataclass(frozen=True)
class UnitFit:
    """One unit's fitted tables."""

    products: list[str]
    intercepts: list[float]  # per product, then the pooled one
    speed_coef: float
    upstream_coef: float
    nominal_speed: float
    q99: float
    q999: float
    sigma: float
    n: int


def trainable(rows: list[list[Any]], include_drift: bool = False) -> list[list[Any]]:
    """Rows a fit may learn from: cycles judged normal/slow or not judged, with every feature known, and outside
    any drift alarm unless the drifted pace is to be learned (new tooling: the new normal, not a degradation)."""
    return [
        r
        for r in rows
        if r[COL["verdict"]] in TRAINABLE
        and (include_drift or not r[COL["drift"]])
        and r[COL["seconds"]] > 0
        and r[COL["upstream_down"]] is not None
    ]


def _huber(x: np.ndarray, y: np.ndarray, iterations: int = 30) -> np.ndarray:
    """Huber regression by iteratively reweighted least squares (scale from the MAD at each step)."""
    beta = np.linalg.lstsq(x, y, rcond=None)[0]
    for _ in range(iterations):
        r = y - x @ beta
        scale = max(1.4826 * float(np.median(np.abs(r - np.median(r)))), 1e-6)
        w = np.minimum(1.0, HUBER_C * scale / np.maximum(np.abs(r), 1e-12))
        sw = np.sqrt(w)
        beta = np.linalg.lstsq(x * sw[:, None], y * sw, rcond=None)[0]
    return beta


def fit_unit(rows: list[list[Any]]) -> UnitFit:
    """Fit one unit from its trainable rows (those without a setpoint are left out when others have one)."""
    if any(r[COL["speed"]] for r in rows):
        rows = [r for r in rows if r[COL["speed"]]]
    seconds = np.array([r[COL["seconds"]] for r in rows], dtype=np.float64)
    speeds = [float(r[COL["speed"]]) if r[COL["speed"]] else 0.0 for r in rows]
    known = [s for s in speeds if s > 0]
    nominal = float(statistics.median(known)) if known else 0.0
    ratio = np.array([s / nominal if s > 0 and nominal > 0 else 1.0 for s in speeds])
    down = np.array([float(r[COL["upstream_down"]]) for r in rows])
    names = [str(r[COL["product"]]) for r in rows]
    products = sorted(p for p in set(names) if names.count(p) >= MIN_PRODUCT_CYCLES)
    columns = [np.array([n == p for n in names], dtype=np.float64) for p in products]
    pooled = np.array([n not in products for n in names], dtype=np.float64)
    if pooled.any():
        columns.append(pooled)
    y = np.log(seconds)
    free_speed, free_up = float(np.std(np.log(ratio))) > 1e-6, float(np.std(down)) > 1e-6
    # with no spread in a feature its effect cannot be learned: speed is then taken as inversely proportional
    offset = np.zeros_like(y) if free_speed else -np.log(ratio)
    extra = ([np.log(ratio)] if free_speed else []) + ([down] if free_up else [])
    x = np.column_stack(columns + extra)
    beta = _huber(x, y - offset)
    k = len(columns)
    speed_coef = float(beta[k]) if free_speed else -1.0
    upstream_coef = float(beta[k + int(free_speed)]) if free_up else 0.0
    residual = y - offset - x @ beta
    sigma = max(1.4826 * float(np.median(np.abs(residual - np.median(residual)))), 1e-3)
    inliers = residual[residual < OUTLIER_SIGMAS * sigma]
    # the tail of a few thousand cycles is thin: the bounds are never narrower than a normal spread would give
    q99 = max(float(np.quantile(inliers, 0.99)), 2.326 * sigma)
    q999 = max(float(np.quantile(inliers, 0.999)), 3.09 * sigma, q99)
    intercepts = [float(v) for v in beta[: len(products)]]
    weights = [names.count(p) for p in products]
    pooled_value = float(beta[len(products)]) if pooled.any() else float(np.average(intercepts, weights=weights))
    return UnitFit(products, [*intercepts, pooled_value], speed_coef, upstream_coef, nominal, q99, q999, sigma, len(y))


def fit(
    rows_by_unit: dict[str, list[list[Any]]], min_cycles: int = 200, include_drift: bool = False
) -> dict[str, UnitFit]:
    """Every unit with enough trainable cycles, in id order."""
    out = {}
    for unit in sorted(rows_by_unit):
        rows = trainable(rows_by_unit[unit], include_drift)
        if len(rows) >= min_cycles:
            out[unit] = fit_unit(rows)
    return out


def predict(unit: UnitFit, product: str | None, ratio: float, down: float) -> tuple[float, float, float, float]:
    """The graph's outputs for one cycle in numpy terms (held-out metrics, tests)."""
    column = unit.products.index(product) if product in unit.products else len(unit.products)
    mu = unit.intercepts[column] + unit.speed_coef * np.log(ratio) + unit.upstream_coef * down
    expected = float(np.exp(mu))
    return expected, expected * float(np.exp(unit.q99)), expected * float(np.exp(unit.q999)), unit.sigma


def step_for(fits: dict[str, UnitFit]) -> CycleFeaturesStep:
    """The manifest's cycle_features step for these fits."""
    return CycleFeaturesStep(
        feature_names=list(FEATURES),
        units=list(fits),
        products={u: f.products for u, f in fits.items()},
        nominal_speed={u: f.nominal_speed for u, f in fits.items()},
    )


def _const(name: str, values: Any, dtype: Any) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(values, dtype=dtype), name)


def onnx_bytes(fits: dict[str, UnitFit]) -> bytes:
    """The tables as an ONNX graph: features [N, 4] float32 -> OUTPUTS [N, 4] float32."""
    width = max(len(f.intercepts) for f in fits.values())
    a = np.zeros((len(fits), width))
    for i, f in enumerate(fits.values()):
        a[i, :] = f.intercepts[-1]  # unused columns read as the pooled row
        a[i, : len(f.intercepts)] = f.intercepts
    tables = [
        _const("A", a.reshape(-1), np.float32),
        _const("B", [f.speed_coef for f in fits.values()], np.float32),
        _const("C", [f.upstream_coef for f in fits.values()], np.float32),
        _const("Q", [[f.q99, f.q999, f.sigma] for f in fits.values()], np.float32),
        _const("width", width, np.int64),
        _const("last", width - 1, np.int64),
        *(_const(f"i{k}", k, np.int64) for k in range(4)),
        _const("axis1", [1], np.int64),
    ]
    n = helper.make_node
    nodes = [
        *(n("Gather", ["features", f"i{k}"], [f"x{k}"], axis=1) for k in range(4)),
        n("Cast", ["x0"], ["unit"], to=TensorProto.INT64),
        n("Cast", ["x1"], ["product_raw"], to=TensorProto.INT64),
        n("Min", ["product_raw", "last"], ["product"]),
        n("Mul", ["unit", "width"], ["row"]),
        n("Add", ["row", "product"], ["cell"]),
        n("Gather", ["A", "cell"], ["a"]),
        n("Gather", ["B", "unit"], ["b"]),
        n("Gather", ["C", "unit"], ["c"]),
        n("Log", ["x2"], ["log_speed"]),
        n("Mul", ["b", "log_speed"], ["speed_term"]),
        n("Mul", ["c", "x3"], ["upstream_term"]),
        n("Add", ["a", "speed_term"], ["mu0"]),
        n("Add", ["mu0", "upstream_term"], ["mu"]),
        n("Exp", ["mu"], ["expected"]),
        n("Gather", ["Q", "unit"], ["q"]),
        n("Gather", ["q", "i0"], ["q99"], axis=1),
        n("Gather", ["q", "i1"], ["q999"], axis=1),
        n("Gather", ["q", "i2"], ["sigma"], axis=1),
        n("Exp", ["q99"], ["f99"]),
        n("Exp", ["q999"], ["f999"]),
        n("Mul", ["expected", "f99"], ["p99"]),
        n("Mul", ["expected", "f999"], ["p999"]),
        *(n("Unsqueeze", [v, "axis1"], [f"{v}_col"]) for v in ("expected", "p99", "p999", "sigma")),
        n("Concat", ["expected_col", "p99_col", "p999_col", "sigma_col"], ["cycle"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "cycle_time",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["n", len(FEATURES)])],
        [helper.make_tensor_value_info("cycle", TensorProto.FLOAT, ["n", len(OUTPUTS)])],
        initializer=tables,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="cycle-time")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()

"""Retrain the cycle-time model from the cycles gateways uploaded; keep the new version only if it is better.

Reads DATASET/cycles.jsonl (one uploaded `cycles/UNIT` record per line, as `cloud-sync retrain cycle-time` writes
it), holds out the newest 20% of each unit's cycles, fits the rest, and compares the current and the candidate on
the held-out cycles. Units without enough new cycles keep the current version's tables.
Run: python -m models.training.retrain_cycle_time DATASET --current PACKAGE --out DIR
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from edge_agent.contracts import CycleFeaturesStep, Manifest
from edge_agent.line.cycles import CYCLE_COLUMNS
from edge_agent.signing import load_private_key
from models.training.cycle_time import COL, UnitFit, fit, predict, trainable
from models.training.package import DEV_KEY, write_package
from models.training.retrain import next_version
from models.training.train_cycle_time import STOP_S, package

log = logging.getLogger(__name__)
NOT_BETTER = 3
HOLD_OUT = 0.2
MIN_GAIN = 0.02  # the candidate's error must be this much (relative) lower: no new version for noise


def read_rows(dataset: Path) -> dict[str, list[list[Any]]]:
    """Rows per unit in CYCLE_COLUMNS order (whatever order each record's columns came in), oldest first."""
    rows: dict[str, list[list[Any]]] = {}
    with (dataset / "cycles.jsonl").open() as handle:
        for line in handle:
            record = json.loads(line)
            index = [record["columns"].index(name) if name in record["columns"] else None for name in CYCLE_COLUMNS]
            for row in record["cycles"]:
                rows.setdefault(record["unit"], []).append([row[i] if i is not None else 0 for i in index])
    return {unit: sorted(unit_rows, key=lambda r: r[COL["end_ms"]]) for unit, unit_rows in rows.items()}


def since_last_drift(rows: list[list[Any]]) -> list[list[Any]]:
    """The rows from the start of the unit's latest drift alarm on (all of them when it never drifted): when a
    drifted pace is accepted, what came before it is no longer the norm."""
    flags = [bool(r[COL["drift"]]) for r in rows]
    if not any(flags):
        return rows
    start = len(flags) - 1 - flags[::-1].index(True)
    while start > 0 and flags[start - 1]:
        start -= 1
    return rows[start:]


def current_fits(package_dir: Path) -> dict[str, UnitFit]:
    """The tables of an installed cycle-time package, read back from its ONNX initializers and manifest."""
    manifest = Manifest.model_validate_json((package_dir / "manifest.json").read_bytes())
    step = next(s for s in manifest.input.preprocessing if isinstance(s, CycleFeaturesStep))
    graph = onnx.load(str(package_dir / manifest.file)).graph
    tables = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    width = int(tables["width"])
    out = {}
    for i, unit in enumerate(step.units):
        products = step.products[unit]
        intercepts = [float(v) for v in tables["A"][i * width : i * width + len(products) + 1]]
        q99, q999, sigma = (float(v) for v in tables["Q"][i])
        speed, up = float(tables["B"][i]), float(tables["C"][i])
        out[unit] = UnitFit(products, intercepts, speed, up, step.nominal_speed[unit], q99, q999, sigma, 0)
    return out


def scores(fits: dict[str, UnitFit], rows: dict[str, list[list[Any]]], include_drift: bool) -> tuple[float, float, int]:
    """Mean absolute log error (%) and share over the 99.9% bound (%) on cycles that are not stops."""
    errors, over = [], 0
    for unit, unit_rows in rows.items():
        if unit not in fits:
            continue
        f = fits[unit]
        for row in trainable(unit_rows, include_drift):
            speed = row[COL["speed"]]
            ratio = speed / f.nominal_speed if speed and f.nominal_speed else 1.0
            expected, _, p999, _ = predict(f, row[COL["product"]], ratio, row[COL["upstream_down"]])
            if row[COL["seconds"]] - expected >= STOP_S:
                continue
            errors.append(abs(math.log(row[COL["seconds"]] / expected)))
            over += row[COL["seconds"]] > p999
    n = max(1, len(errors))
    return 100 * float(np.mean(errors)) if errors else math.inf, 100 * over / n, len(errors)


def retrain(dataset: Path, current: Path, out: Path, include_drift: bool = False) -> tuple[str, Path | None]:
    """The comparison table and the new package (None when the candidate is not better); include_drift learns
    cycles judged during a drift alarm too (the drifted pace is the new normal)."""
    rows = read_rows(dataset)
    if include_drift:
        rows = {unit: since_last_drift(unit_rows) for unit, unit_rows in rows.items()}
    train, held = {}, {}
    for unit, unit_rows in rows.items():
        cut = int(len(unit_rows) * (1 - HOLD_OUT))
        train[unit], held[unit] = unit_rows[:cut], unit_rows[cut:]
    old = current_fits(current)
    candidate = {**old, **fit(train, include_drift=include_drift)}  # units with too few new cycles keep theirs
    now, new = scores(old, held, include_drift), scores(candidate, held, include_drift)
    table = "\n".join(
        [
            f"{'held-out cycles':16} {'n':>7} {'mean abs err %':>15} {'over 99.9% %':>13}",
            f"{'current':16} {now[2]:7d} {now[0]:15.3f} {now[1]:13.3f}",
            f"{'candidate':16} {new[2]:7d} {new[0]:15.3f} {new[1]:13.3f}",
        ]
    )
    if not new[0] < now[0] * (1 - MIN_GAIN):
        return table, None
    manifest = Manifest.model_validate_json((current / "manifest.json").read_bytes())
    recipe = {
        "source": "cycles uploaded by gateways (stream cycles/UNIT)",
        "units": sorted(train),
        "hold_out": HOLD_OUT,
    }
    metrics = {
        "held_out": {"cycles": new[2], "mean_abs_error_pct": round(new[0], 3), "over_p999_pct": round(new[1], 3)},
        "current_on_held_out": {"mean_abs_error_pct": round(now[0], 3), "over_p999_pct": round(now[1], 3)},
    }
    trained = package(
        candidate, next_version(manifest.version), recipe, metrics, f"{manifest.description} (retrained on field data)"
    )
    trained.training["retrain"] = {"from_version": manifest.version, "field_cycles": sum(map(len, rows.values()))}
    return table, write_package(trained, out, load_private_key(DEV_KEY), on_change="bump")


def main(argv: list[str] | None = None) -> int:
    """CLI: retrain, print the comparison, exit 0 with the new package path, 3 when it is not better."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", type=Path, help="directory holding cycles.jsonl")
    parser.add_argument("--current", type=Path, required=True, help="package directory of the current version")
    parser.add_argument("--out", type=Path, required=True, help="where the new NAME/VERSION package goes")
    parser.add_argument("--include-drift", action="store_true", help="learn cycles of drift alarms (a new normal)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    table, written = retrain(args.dataset, args.current, args.out, args.include_drift)
    print(table)
    if written is None:
        print("the candidate is not better than the current version: nothing registered")
        return NOT_BETTER
    print(f"new version written to {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

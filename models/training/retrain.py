"""Retrain a model from base data plus labelled field samples; keep the new version only if it is better.

Reads a dataset written by `cloud-sync export` (DIR/manifest.jsonl + DIR/files/), trains, evaluates the current
and the new version on held-out data from both sources, prints a comparison table, and writes a signed package
when the new one wins. Run: python -m models.training.retrain bearing-health DATASET --current PACKAGE --out DIR
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.contracts import BearingGeometry, Manifest, semver_key
from edge_agent.ingest.vibration import parse_vibration
from edge_agent.packages import parse_manifest
from edge_agent.pipelines.vibration_features import FEATURE_NAMES, default_step, extract_features
from edge_agent.signing import load_private_key
from models.training.maintenance_export import run_onnx
from models.training.package import DEV_KEY, write_package
from models.training.train_maintenance import FeatureSet, build_features, train
from models.training.vibration import STATES

log = logging.getLogger(__name__)
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Comparison:
    """Accuracy of the current and the candidate version on each held-out source."""

    rows: dict[str, tuple[float, float, int]]

    def better(self, max_base_drop: float = 0.01) -> bool:
        """The candidate wins on field data and loses at most max_base_drop on base data."""
        field_current, field_new, _ = self.rows["field held-out"]
        base_current, base_new, _ = self.rows["base held-out"]
        return field_new > field_current and base_new >= base_current - max_base_drop

    def table(self) -> str:
        """The comparison as a text table."""
        lines = [f"{'held-out set':18} {'windows':>8} {'current':>9} {'candidate':>10} {'change':>8}"]
        for name, (current, new, n) in self.rows.items():
            lines.append(f"{name:18} {n:8d} {current:9.3f} {new:10.3f} {new - current:+8.3f}")
        return "\n".join(lines)


def next_version(version: str) -> str:
    """The next minor version."""
    major, minor, _ = (int(p) for p in version.split("-")[0].split(".")[:3])
    return f"{major}.{minor + 1}.0"


def _features(entry: dict[str, Any], files: Path) -> np.ndarray | None:
    features = entry.get("features")
    if isinstance(features, dict) and set(features) == set(FEATURE_NAMES):
        return np.array([features[name] for name in FEATURE_NAMES], dtype=np.float32)
    bearing = entry.get("bearing")
    bearing_model = BearingGeometry.model_validate(bearing) if isinstance(bearing, dict) else None
    payload = (files / entry["file"]).read_bytes()
    window = parse_vibration(payload, bearing_model, entry.get("rpm"))
    return extract_features(window.samples, window.fs_hz, window.rpm, window.bearing, default_step())


def load_field_dataset(dataset: Path) -> FeatureSet:
    """Labelled maintenance samples of an export as features (labels outside the model's states are skipped)."""
    xs, states, params = [], [], []
    for line in (dataset / "manifest.jsonl").read_text().splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        provenance = entry.get("provenance", {})
        merged = {**provenance, **entry}
        label = merged.get("label")
        if label not in STATES:
            continue
        try:
            vector = _features(merged, dataset / "files")
        except Exception as exc:  # a broken sample must not stop a retrain; it is reported
            log.warning("skipping sample %s: %s", entry.get("file"), exc)
            continue
        if vector is None:
            continue
        xs.append(vector)
        states.append(str(label))
        params.append({"file": entry.get("file"), "source": merged.get("source")})
    x = np.stack(xs).astype(np.float32) if xs else np.zeros((0, len(FEATURE_NAMES)), np.float32)
    return FeatureSet(x=x, states=states, params=params)


def split_field(field: FeatureSet, held_out_share: float = 0.3) -> tuple[FeatureSet, FeatureSet]:
    """Deterministic train / held-out split by a hash of each sample's file name."""
    keep: list[int] = []
    hold: list[int] = []
    for i, p in enumerate(field.params):
        digest = int(hashlib.sha256(str(p.get("file", i)).encode()).hexdigest()[:8], 16)
        (hold if digest % 1000 < held_out_share * 1000 else keep).append(i)

    def subset(idx: list[int]) -> FeatureSet:
        return FeatureSet(field.x[idx], [field.states[i] for i in idx], [field.params[i] for i in idx])

    return subset(keep), subset(hold)


def feature_columns(manifest: Manifest) -> list[int]:
    """Where a package's own features sit in the full feature vector (an older model reads fewer of them)."""
    step = manifest.input.preprocessing[0]
    names = getattr(step, "feature_names", FEATURE_NAMES)
    return [FEATURE_NAMES.index(name) for name in names]


def accuracy(model_bytes: bytes, threshold: float | None, data: FeatureSet, columns: list[int] | None = None) -> float:
    """Share of windows whose state is right; an anomaly flag on a known state counts as a miss."""
    if not data.states:
        return float("nan")
    probs, scores = run_onnx(model_bytes, data.x if columns is None else data.x[:, columns])
    predicted = [STATES[int(i)] for i in probs.argmax(axis=1)]
    if threshold is not None:
        predicted = [UNKNOWN if s > threshold else p for p, s in zip(predicted, scores.reshape(-1))]
    return float(np.mean([p == t for p, t in zip(predicted, data.states)]))


def retrain_maintenance(
    dataset: Path, current: Path, out: Path, seed: int = 0, quick: bool = False
) -> tuple[Comparison, Path | None]:
    """Train on base + field data, compare with the current package, write the package only if better."""
    manifest = parse_manifest((current / "manifest.json").read_bytes(), str(current))
    field = load_field_dataset(dataset)
    if len(field.states) < 10:
        raise SystemExit(f"only {len(field.states)} labelled field windows in {dataset}; need at least 10")
    field_train, field_held = split_field(field)
    trained = train(seed=seed, quick=quick, field_train=field_train, version=next_version(manifest.version))
    current_bytes = (current / manifest.file).read_bytes()
    current_columns = feature_columns(manifest)
    base_held = build_features(90_013 + seed, 60 if quick else 150, STATES)
    comparison = Comparison(
        {
            "base held-out": (
                accuracy(current_bytes, manifest.thresholds.anomaly, base_held, current_columns),
                accuracy(trained.model_bytes, trained.thresholds.anomaly, base_held),
                len(base_held.states),
            ),
            "field held-out": (
                accuracy(current_bytes, manifest.thresholds.anomaly, field_held, current_columns),
                accuracy(trained.model_bytes, trained.thresholds.anomaly, field_held),
                len(field_held.states),
            ),
        }
    )
    trained.training["retrain"] = {
        "from_version": manifest.version,
        "field_train_windows": len(field_train.states),
        "field_held_out_windows": len(field_held.states),
        "comparison": {k: {"current": v[0], "candidate": v[1], "n": v[2]} for k, v in comparison.rows.items()},
    }
    if not comparison.better() or semver_key(trained.version) <= semver_key(manifest.version):
        return comparison, None
    return comparison, write_package(trained, out, load_private_key(DEV_KEY), on_change="bump")


def main(argv: list[str] | None = None) -> int:
    """CLI: retrain, print the comparison, exit 0 with the new package path, 3 when it is not better."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", choices=["bearing-health"], help="model to retrain")
    parser.add_argument("dataset", type=Path, help="directory written by `cloud-sync export`")
    parser.add_argument("--current", type=Path, required=True, help="package directory of the current version")
    parser.add_argument("--out", type=Path, required=True, help="where the new NAME/VERSION package goes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="small synthetic base set (tests, demos)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    comparison, package = retrain_maintenance(args.dataset, args.current, args.out, args.seed, args.quick)
    print(comparison.table())
    if package is None:
        print("the candidate is not better than the current version: nothing registered")
        return 3
    print(f"new version written to {package}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Test-time dihedral views for the inspection packages: scores averaged over views exactly as the gateway does,
the verdict threshold refitted on them, and the repackaging of an already trained network with views.

The network is trained with random flips and transposes, so each view of a frame is a frame it has learned; the
average of a few views is a small ensemble at the cost of a few more model runs. Run on an existing package:
    python -m models.training.inspection_views models/surface-inspection/1.2.0 --version 1.3.0
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.contracts import Manifest
from edge_agent.packages import MANIFEST, MODEL_CARD, SELFTEST
from edge_agent.pipelines.image_preprocess import dihedral_views
from edge_agent.pipelines.postprocess import mean_over_views
from edge_agent.signing import load_private_key
from models.training.package import DEV_KEY, TrainedModel, write_package

log = logging.getLogger(__name__)

VIEWS = 4  # identity, transpose, 180-degree turn, anti-transpose: +3 model runs per frame
_CHUNK = 64


def view_probabilities(run: Callable[[np.ndarray], np.ndarray], x: np.ndarray, views: int) -> np.ndarray:
    """Class probabilities of each item of x (N x H x W x C) averaged over its first `views` dihedral views."""
    parts = []
    for start in range(0, len(x), _CHUNK):
        items = x[start : start + _CHUNK]
        batch = np.stack([view for item in items for view in dihedral_views(item, views)]) if views > 1 else items
        parts.append(mean_over_views(np.asarray(run(batch), np.float32), views))
    return np.asarray(np.concatenate(parts), np.float64)


def _runner(manifest: Manifest, model_bytes: bytes) -> Callable[[np.ndarray], np.ndarray]:
    """Probabilities of a uint8 batch from the package's own runtime (ONNX takes the 0..1 floats)."""
    from models.training.inspection_data import _to_float
    from models.training.inspection_export import _LiteRT, _Onnx

    if manifest.runtime == "litert":
        return _LiteRT(model_bytes).probabilities
    session = _Onnx(model_bytes)
    return lambda batch: session.probabilities(_to_float(batch))


def refit(packages: list[Path], views: int, workers: int = 2) -> tuple[float, dict[str, dict[str, Any]]]:
    """One ng_score for all packages on their view-averaged scores (the training run's validation and calibration
    splits, re-rendered from their seed tags), and each package's held-out figures at it."""
    from models.training.eval_inspection import agreement, choose_ng_score, inspection_metrics, meets_bar, verdicts
    from models.training.inspection_data import HELDOUT_DOMAIN, _seed_tags, render_split
    from models.training.surfaces import CLASSES
    from models.training.train_inspection import FULL, HELDOUT_BANDS, WIDTH_BANDS, _by_width

    tags = _seed_tags(0)
    x_val, y_val, _, _ = render_split(tags["val"], FULL.n_val, HELDOUT_DOMAIN, workers)
    x_test, y_test, _, s_test = render_split(tags["test"], FULL.n_test, HELDOUT_DOMAIN, workers)
    x_cal, y_cal, _, s_cal = render_split(tags["calib"], FULL.n_threshold, HELDOUT_DOMAIN, workers, wide=True)
    probs: dict[Path, dict[str, np.ndarray]] = {}
    for package in packages:
        manifest = Manifest.model_validate_json((package / MANIFEST).read_text())
        run = _runner(manifest, (package / manifest.file).read_bytes())
        probs[package] = {
            split: view_probabilities(run, x, views)
            for split, x in (("val", x_val), ("test", x_test), ("calib", x_cal))
        }
    fit_labels = [CLASSES[i] for i in np.concatenate([y_val, y_cal])] * len(packages)
    ng_score = choose_ng_score(fit_labels, np.concatenate([probs[p][s] for p in packages for s in ("val", "calib")]))
    test_labels, cal_labels = [CLASSES[i] for i in y_test], [CLASSES[i] for i in y_cal]
    first = verdicts(probs[packages[0]]["test"], ng_score)
    figures = {}
    for package in packages:
        p = probs[package]
        metrics = inspection_metrics(test_labels, p["test"], ng_score)
        figures[str(package)] = {
            "metrics": {k: v for k, v in metrics.items() if k != "labels"},
            "meets_bar": meets_bar(metrics),
            "by_native_width": _by_width(test_labels, p["test"], s_test[:, 1], ng_score, HELDOUT_BANDS),
            "calibration_split": {
                "all": _by_width(cal_labels, p["calib"], s_cal[:, 1], ng_score, ((0, 10**6),))["0-1000000px"],
                **_by_width(cal_labels, p["calib"], s_cal[:, 1], ng_score, WIDTH_BANDS),
            },
            "agreement_with_first": agreement(verdicts(p["test"], ng_score), first),
        }
    return ng_score, figures


def with_views(packages: list[Path], out_root: Path, version: str, views: int, key_path: Path = DEV_KEY) -> list[Path]:
    """Write each package again as NAME/`version` under out_root: the same model file, `views` test-time views,
    the threshold refitted on the averaged scores, the held-out figures at it, signed."""
    ng_score, figures = refit(packages, views)
    key = load_private_key(key_path)
    written = []
    for package in packages:
        manifest = Manifest.model_validate_json((package / MANIFEST).read_text())
        result = figures[str(package)]
        training = dict(manifest.training)
        single_view = {k: training.get(k) for k in ("ng_score", "metrics", "by_native_width")}
        training.update(
            ng_score=ng_score,
            test_time_views=views,
            repackaged_from=f"{manifest.name}@{manifest.version} (same model file; its single-view figures below)",
            single_view=single_view,
            metrics={f"{manifest.runtime}_int8_{views}_views": result["metrics"]},
            meets_bar={f"{manifest.runtime}_int8_{views}_views": result["meets_bar"]},
            by_native_width=result["by_native_width"],
            calibration_split_by_native_width={f"{manifest.runtime}_int8": result["calibration_split"]},
        )
        with np.load(package / SELFTEST) as data:
            inputs, labels = data["inputs"], [str(label) for label in data["labels"]]
        note = (
            f"## Test-time views\n\nEach frame is judged on {views} dihedral views of its 256x256 input (identity, "
            "transpose, 180-degree turn, anti-transpose), run as one batch; the class probabilities are averaged "
            f"and the verdict is ng when 1 - p(ok) >= {ng_score}, a threshold refitted on the averaged scores of the "
            f"validation and calibration splits. The network is {manifest.name}@{manifest.version}'s, unchanged."
        )
        trained = TrainedModel(
            name=manifest.name,
            version=version,
            task=manifest.task,
            runtime=manifest.runtime,
            file_name=manifest.file,
            model_bytes=(package / manifest.file).read_bytes(),
            input=manifest.input.model_copy(update={"test_time_views": views}),
            output=manifest.output,
            thresholds=manifest.thresholds.model_copy(update={"ng_score": ng_score}),
            description=manifest.description,
            training=training,
            selftest_inputs=inputs,
            selftest_labels=labels,
            card_markdown=note + "\n\n" + _hand_written(package),
        )
        written.append(write_package(trained, out_root, key, min_agent_version=manifest.min_agent_version))
    return written


def _hand_written(package: Path) -> str:
    """The architecture and recipe part of the source package's model card."""
    card = (package / MODEL_CARD).read_text()
    start = card.find("## Surface inspection CNN")
    return card[start:].split("### Held-out metrics", 1)[0].strip() if start >= 0 else ""


def main(argv: list[str] | None = None) -> int:
    """Repackage inspection packages with test-time views."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("packages", type=Path, nargs="+", help="NAME/VERSION directories sharing one network")
    parser.add_argument("--version", required=True, help="version of the new packages")
    parser.add_argument("--views", type=int, choices=[2, 4, 8], default=VIEWS)
    parser.add_argument("--out", type=Path, help="where NAME/VERSION goes (default: beside the source package)")
    parser.add_argument("--key", type=Path, default=DEV_KEY, help="signing key (default: the development key)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    out = args.out or args.packages[0].resolve().parents[1]
    for path in with_views([p.resolve() for p in args.packages], out, args.version, args.views, args.key):
        print("wrote", path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

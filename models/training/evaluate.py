"""Held-out quality of the shipped packages, measured through the gateway's own inference path."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.app import build_pipeline
from edge_agent.ingest.images import decode_image
from edge_agent.ingest.vibration import parse_vibration
from edge_agent.pipelines.inspection import QualityInspector
from edge_agent.pipelines.maintenance import HealthMonitor
from edge_agent.signing import load_private_key
from models.training.eval_inspection import agreement, inspection_metrics
from models.training.eval_maintenance import maintenance_metrics
from models.training.package import DEV_KEY, EVALUATION_HEADING, record_evaluation
from models.training.surfaces import generate_batch as surface_batch
from models.training.vibration import STATES, UNTRAINED_STATES, bearing_name, to_message
from models.training.vibration import generate_batch as vibration_batch

MODELS = Path(__file__).resolve().parents[1]
KEYS = [MODELS / "keys"]
HELD_OUT_SURFACE_SEED = 90_001
HELD_OUT_VIBRATION_SEED = 90_002
SIZES = (128, 192, 256, 384, 512)


def _latest(name: str) -> Path:
    from edge_agent.model_manager import active_package_dir

    return active_package_dir(MODELS, name)


def evaluate_inspection(n_per_class: int) -> dict[str, Any]:
    """Both inspection packages on the same held-out JPEGs of every size."""
    samples = surface_batch(HELD_OUT_SURFACE_SEED, n_per_class, sizes=SIZES)
    truth = [s.label for s in samples]
    report: dict[str, Any] = {"n_images": len(samples), "sizes": list(SIZES), "seed": HELD_OUT_SURFACE_SEED}
    verdicts: dict[str, list[str]] = {}
    for name in ("surface-inspection", "surface-inspection-onnx"):
        pipeline = build_pipeline(_latest(name), KEYS)
        assert isinstance(pipeline, QualityInspector)
        labels = pipeline.model.manifest.output.labels
        probs, names = [], []
        started = time.perf_counter()
        for sample in samples:
            outcome = pipeline.inspect(decode_image(sample.jpeg))
            probs.append([outcome.result.scores[label] for label in labels])
            names.append(outcome.result.verdict)
        elapsed = time.perf_counter() - started
        ng_score = pipeline.model.manifest.thresholds.ng_score or 0.5
        metrics = inspection_metrics(truth, np.asarray(probs), ng_score, labels)
        metrics["by_size"] = _by_size(samples, truth, np.asarray(probs), ng_score, labels)
        metrics["ms_per_image_incl_decode"] = round(elapsed * 1000 / len(samples), 3)
        metrics["model_bytes"] = pipeline.model.manifest.size
        metrics["int8_vs_float_agreement_at_training"] = pipeline.model.manifest.training.get("metrics", {}).get(
            "int8_vs_float_verdict_agreement"
        )
        report[name] = metrics
        verdicts[name] = names
    report["litert_vs_onnx_verdict_agreement"] = agreement(
        np.array(verdicts["surface-inspection"]) == "ng", np.array(verdicts["surface-inspection-onnx"]) == "ng"
    )
    return report


def _by_size(
    samples: list[Any], truth: list[str], probs: np.ndarray, ng_score: float, labels: list[str]
) -> dict[str, dict[str, float]]:
    """Recall, false rejects and type accuracy per frame width: where on the size range the errors are."""
    widths = np.array([s.image.shape[1] for s in samples])
    out = {}
    for width in sorted(set(widths.tolist())):
        pick = widths == width
        sub = inspection_metrics([t for t, k in zip(truth, pick, strict=True) if k], probs[pick], ng_score, labels)
        out[f"{width}px"] = {
            key: sub[key] for key in ("n", "defect_recall", "false_reject_rate", "defect_type_accuracy")
        }
    return out


def evaluate_maintenance(n_per_state: int) -> dict[str, Any]:
    """The maintenance package on held-out windows sent as MQTT messages, plus untrained patterns."""
    pipeline = build_pipeline(_latest("bearing-health"), KEYS)
    assert isinstance(pipeline, HealthMonitor)
    manifest = pipeline.model.manifest

    def run(samples: list[Any]) -> tuple[np.ndarray, np.ndarray]:
        probs, scores = [], []
        for sample in samples:
            window = parse_vibration(json.dumps(to_message(sample, binary=True)).encode())
            result = pipeline.assess(window).result
            probs.append([result.scores[label] for label in manifest.output.labels])
            scores.append(result.anomaly_score)
        return np.asarray(probs), np.asarray(scores)

    known = vibration_batch(HELD_OUT_VIBRATION_SEED, n_per_state, states=STATES)
    unknown = vibration_batch(HELD_OUT_VIBRATION_SEED + 1, n_per_state, states=UNTRAINED_STATES)
    started = time.perf_counter()
    probs, scores = run(known)
    elapsed = time.perf_counter() - started
    _, unknown_scores = run(unknown)
    params = [{**s.params, "rpm": s.rpm, "bearing": bearing_name(s.bearing)["name"]} for s in known]
    metrics = maintenance_metrics(
        [s.state for s in known],
        probs,
        scores,
        manifest.thresholds.anomaly if manifest.thresholds.anomaly is not None else float("inf"),
        unknown_scores,
        params=params,
        labels=manifest.output.labels,
        negative_label=manifest.output.negative_label,
    )
    metrics["ms_per_window_incl_parse"] = round(elapsed * 1000 / len(known), 3)
    metrics["model_bytes"] = manifest.size
    metrics["seed"] = HELD_OUT_VIBRATION_SEED
    return {"bearing-health": metrics}


def _print(report: dict[str, Any], indent: str = "") -> None:
    for key, value in report.items():
        if isinstance(value, dict):
            print(f"{indent}{key}:")
            _print(value, indent + "  ")
        elif isinstance(value, float):
            print(f"{indent}{key}: {value:.4f}")
        elif isinstance(value, list) and value and isinstance(value[0], list):
            print(f"{indent}{key}:")
            for row in value:
                print(f"{indent}  {row}")
        else:
            print(f"{indent}{key}: {value}")


def _pct(value: float) -> str:
    return f"{100 * value:.2f}%"


def _card_sections(report: dict[str, Any], command: str) -> dict[str, str]:
    """Model-card markdown per package: the gateway-path figures of this run."""
    sections = {}
    inspection = report["inspection"]
    for name in ("surface-inspection", "surface-inspection-onnx"):
        m = inspection[name]
        rows = [
            f"| all | {m['n']} | {_pct(m['defect_recall'])} | {_pct(m['false_reject_rate'])} "
            f"| {_pct(m['defect_type_accuracy'])} |"
        ]
        rows += [
            f"| {size} | {s['n']} | {_pct(s['defect_recall'])} | {_pct(s['false_reject_rate'])} "
            f"| {_pct(s['defect_type_accuracy'])} |"
            for size, s in m["by_size"].items()
        ]
        sections[name] = "\n".join(
            [
                f"{EVALUATION_HEADING}",
                "",
                f"Held-out JPEGs (seed {inspection['seed']}, every class at every square size) decoded and",
                f"preprocessed by the agent's own code, ng_score {m['ng_score']}: balanced accuracy "
                f"{_pct(m['balanced_accuracy'])}; LiteRT and ONNX verdicts agree on "
                f"{_pct(inspection['litert_vs_onnx_verdict_agreement'])}. `{command}`",
                "",
                "| frames | n | defect recall | false rejects | type accuracy |",
                "|---|---|---|---|---|",
                *rows,
            ]
        )
    h = report["maintenance"]["bearing-health"]
    sections["bearing-health"] = "\n".join(
        [
            f"{EVALUATION_HEADING}",
            "",
            f"Held-out windows (seed {h['seed']}) sent as MQTT messages through the agent's parser and features: "
            f"{h['n_windows']} windows of the trained states, {h['n_unknown_windows']} of untrained patterns. "
            f"`{command}`",
            "",
            "| metric | value |",
            "|---|---|",
            f"| state accuracy | {_pct(h['state_accuracy'])} |",
            f"| healthy windows flagged as faults or anomalies | {_pct(h['healthy_flagged_rate'])} |",
            f"| untrained patterns above the anomaly threshold | {_pct(h['unknown_detection_rate'])} |",
        ]
    )
    return sections


def main(argv: list[str] | None = None) -> int:
    """Print the held-out quality figures of the shipped packages."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images-per-class", type=int, default=300)
    parser.add_argument("--windows-per-state", type=int, default=300)
    parser.add_argument("--json", type=Path, help="also write the report as JSON")
    parser.add_argument(
        "--record", action="store_true", help="write the figures into the model cards and sign the packages again"
    )
    parser.add_argument("--key", type=Path, default=DEV_KEY, help="signing key for --record (default: development)")
    args = parser.parse_args(argv)
    report = {
        "inspection": evaluate_inspection(args.images_per_class),
        "maintenance": evaluate_maintenance(args.windows_per_state),
    }
    _print(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=float))
    if args.record:
        key = load_private_key(args.key)
        command = f"python -m models.training.evaluate --images-per-class {args.images_per_class} " + (
            f"--windows-per-state {args.windows_per_state}"
        )
        for name, markdown in _card_sections(report, command).items():
            record_evaluation(_latest(name), markdown, key)
            print(f"recorded in {_latest(name) / 'MODEL_CARD.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

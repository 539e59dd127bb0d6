"""Quality of the shipped packages through the gateway's own inference path, on both generators side by side:
held-out data of the training generator, and the clean-room generator (models/evaluation) that training never
sees; maintenance also with per-asset baselines learned at commissioning."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from edge_agent.app import build_pipeline
from edge_agent.pipelines.maintenance import HealthMonitor
from edge_agent.signing import load_private_key
from models.training.eval_cards import card_sections
from models.training.eval_surface_worlds import cleanroom_images, inspection_report, plant_images, training_images
from models.training.eval_vibration_worlds import absolute_report, baseline_report, cleanroom_known
from models.training.package import DEV_KEY, record_evaluation

MODELS = Path(__file__).resolve().parents[1]
KEYS = [MODELS / "keys"]
HELD_OUT_SURFACE_SEED = 90_001
HELD_OUT_VIBRATION_SEED = 90_002
CLEANROOM_SURFACE_SEED = 70_001
CLEANROOM_VIBRATION_SEED = 70_003
PLANT_SURFACE_SEED = 70_005
PLANT_VIBRATION_SEED = 70_007
THIRD_VIBRATION_SEED = 70_009
FOURTH_VIBRATION_SEED = 70_011
INSPECTION = ("surface-inspection", "surface-inspection-onnx")


def _latest(name: str) -> Path:
    from edge_agent.model_manager import active_package_dir

    return active_package_dir(MODELS, name)


def evaluate_inspection(n_per_class: int, packages: dict[str, Path]) -> dict[str, Any]:
    """Both inspection packages on the same frames of all three generators, every class at every size 128-1024 px."""
    return {
        "training_generator": {
            "seed": HELD_OUT_SURFACE_SEED,
            **inspection_report(packages, KEYS, training_images(HELD_OUT_SURFACE_SEED, n_per_class)),
        },
        "clean_room": {
            "seed": CLEANROOM_SURFACE_SEED,
            **inspection_report(packages, KEYS, cleanroom_images(CLEANROOM_SURFACE_SEED, n_per_class)),
        },
        "clean_room_plant": {
            "seed": PLANT_SURFACE_SEED,
            **inspection_report(packages, KEYS, plant_images(PLANT_SURFACE_SEED, n_per_class)),
        },
    }


def evaluate_maintenance(n_per_state: int, package: Path, machines: int) -> dict[str, Any]:
    """The maintenance package on held-out windows of both generators sent as MQTT messages; on the clean-room
    fleet also with a baseline per machine."""
    from models.evaluation import fourth_vibration, plant_vibration, third_vibration
    from models.training.vibration import STATES, UNTRAINED_STATES, to_message
    from models.training.vibration import generate_batch as vibration_batch

    pipeline = build_pipeline(package, KEYS)
    assert isinstance(pipeline, HealthMonitor)
    own = vibration_batch(HELD_OUT_VIBRATION_SEED, n_per_state, states=STATES)
    own_untrained = vibration_batch(HELD_OUT_VIBRATION_SEED + 1, n_per_state, states=UNTRAINED_STATES)
    clean, clean_untrained, clean_severity = cleanroom_known(CLEANROOM_VIBRATION_SEED, n_per_state)
    plant, plant_untrained, plant_severity = cleanroom_known(PLANT_VIBRATION_SEED, n_per_state, plant_vibration)
    third, third_untrained, third_severity = cleanroom_known(THIRD_VIBRATION_SEED, n_per_state, third_vibration)
    fourth, fourth_untrained, fourth_severity = cleanroom_known(FOURTH_VIBRATION_SEED, n_per_state, fourth_vibration)
    per_state = max(4, n_per_state // 25)
    return {
        "version": pipeline.model.manifest.version,
        "training_generator": {
            "seed": HELD_OUT_VIBRATION_SEED,
            **absolute_report(
                pipeline,
                [(s.state, to_message(s, binary=True), float(s.params["rpm_true"])) for s in own],
                [(s.state, to_message(s, binary=True)) for s in own_untrained],
            ),
        },
        "clean_room": {
            "seed": CLEANROOM_VIBRATION_SEED,
            **absolute_report(pipeline, clean, clean_untrained, clean_severity),
        },
        "clean_room_with_baseline": {
            "seed": CLEANROOM_VIBRATION_SEED + 10,
            **baseline_report(pipeline, CLEANROOM_VIBRATION_SEED + 10, machines, per_state),
        },
        "clean_room_plant": {
            "seed": PLANT_VIBRATION_SEED,
            **absolute_report(pipeline, plant, plant_untrained, plant_severity),
        },
        "clean_room_plant_with_baseline": {
            "seed": PLANT_VIBRATION_SEED + 10,
            **baseline_report(pipeline, PLANT_VIBRATION_SEED + 10, machines, per_state, plant_vibration),
        },
        "clean_room_third": {
            "seed": THIRD_VIBRATION_SEED,
            **absolute_report(pipeline, third, third_untrained, third_severity),
        },
        "clean_room_third_with_baseline": {
            "seed": THIRD_VIBRATION_SEED + 10,
            **baseline_report(pipeline, THIRD_VIBRATION_SEED + 10, machines, per_state, third_vibration),
        },
        "clean_room_fourth": {
            "seed": FOURTH_VIBRATION_SEED,
            **absolute_report(pipeline, fourth, fourth_untrained, fourth_severity),
        },
        "clean_room_fourth_with_baseline": {
            "seed": FOURTH_VIBRATION_SEED + 10,
            **baseline_report(pipeline, FOURTH_VIBRATION_SEED + 10, machines, per_state, fourth_vibration),
        },
    }


def _print(report: dict[str, Any], indent: str = "") -> None:
    for key, value in report.items():
        if isinstance(value, dict):
            print(f"{indent}{key}:")
            _print(value, indent + "  ")
        elif isinstance(value, float):
            print(f"{indent}{key}: {value:.4f}")
        else:
            print(f"{indent}{key}: {value}")


def main(argv: list[str] | None = None) -> int:
    """Print the quality figures of the shipped packages on both generators."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images-per-class", type=int, default=280)
    parser.add_argument("--windows-per-state", type=int, default=300)
    parser.add_argument("--machines", type=int, default=30, help="clean-room machines commissioned with a baseline")
    parser.add_argument("--only", choices=["inspection", "maintenance"], help="evaluate one task only")
    parser.add_argument("--bearing-health", type=Path, help="maintenance package (default: the newest shipped)")
    parser.add_argument("--json", type=Path, help="also write the report as JSON")
    parser.add_argument(
        "--record", action="store_true", help="write the figures into the model cards and sign the packages again"
    )
    parser.add_argument("--key", type=Path, default=DEV_KEY, help="signing key for --record (default: development)")
    args = parser.parse_args(argv)
    report: dict[str, Any] = {}
    inspection_packages = {name: _latest(name) for name in INSPECTION}
    maintenance_package = args.bearing_health or _latest("bearing-health")
    if args.only in (None, "inspection"):
        report["inspection"] = evaluate_inspection(args.images_per_class, inspection_packages)
    if args.only in (None, "maintenance"):
        report["maintenance"] = evaluate_maintenance(args.windows_per_state, maintenance_package, args.machines)
    _print(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=float))
    if args.record:
        key = load_private_key(args.key)
        command = (
            f"python -m models.training.evaluate --images-per-class {args.images_per_class} "
            f"--windows-per-state {args.windows_per_state} --machines {args.machines}"
        )
        dirs = {**inspection_packages, "bearing-health": maintenance_package}
        for name, markdown in card_sections(report, command).items():
            record_evaluation(dirs[name], markdown, key)
            print(f"recorded in {dirs[name] / 'MODEL_CARD.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

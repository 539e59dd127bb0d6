"""Model-card sections of a gateway-path evaluation: both generators side by side, per class, size and speed."""

from __future__ import annotations

from typing import Any

from models.training.package import EVALUATION_HEADING


def _pct(value: float) -> str:
    return f"{100 * value:.2f}%"


def _inspection_rows(m: dict[str, Any]) -> list[str]:
    rows = [
        f"| all | {m['n']} | {_pct(m['balanced_accuracy'])} | {_pct(m['defect_recall'])} "
        f"| {_pct(m['false_reject_rate'])} | {_pct(m['defect_type_accuracy'])} |"
    ]
    rows += [
        f"| {size} | {s['n']} | {_pct(s['balanced_accuracy'])} | {_pct(s['defect_recall'])} "
        f"| {_pct(s['false_reject_rate'])} | {_pct(s['defect_type_accuracy'])} |"
        for size, s in m["by_size"].items()
    ]
    rows += [f"| {label} | | | {_pct(recall)} | | |" for label, recall in m.get("recall_per_defect", {}).items()]
    return rows


def inspection_section(inspection: dict[str, Any], name: str, command: str) -> str:
    """Card section of one inspection package: training generator and clean-room generator."""
    lines = [EVALUATION_HEADING, "", f"`{command}` (frames decoded and preprocessed by the agent's own code)", ""]
    for world, title in (
        ("training_generator", "Training generator, held-out seeds"),
        ("clean_room", "Clean-room generator (models/evaluation/surface_world, never seen in training)"),
        ("clean_room_plant", "Second clean-room generator (models/evaluation/plant_surfaces, written after 1.1.0)"),
    ):
        if world not in inspection:
            continue
        w = inspection[world]
        m = w[name]
        lines += [
            f"### {title} (seed {w['seed']}, {w['n_images']} frames)",
            "",
            f"ng_score {m['ng_score']}; the two runtimes' verdicts agree on "
            f"{_pct(w.get('verdict_agreement', float('nan')))}.",
            "",
            "| frames | n | balanced accuracy | defect recall | false rejects | type accuracy |",
            "|---|---|---|---|---|---|",
            *_inspection_rows(m),
            "",
        ]
    return "\n".join(lines)


def _maintenance_table(m: dict[str, Any]) -> list[str]:
    rows = [
        "| metric | value |",
        "|---|---|",
        f"| state accuracy (uncertain and unknown count as wrong) | {_pct(m['state_accuracy'])} |",
        f"| accuracy of decided windows | {_pct(m['decided_accuracy'])} |",
        f"| uncertain | {_pct(m['uncertain_rate'])} |",
        f"| healthy windows that raised an alarm (fault state or unknown) | {_pct(m['healthy_flagged_rate'])} |",
        f"| healthy windows answered uncertain | {_pct(m['healthy_uncertain_rate'])} |",
        f"| faults that passed as healthy | {_pct(m['fault_missed_rate'])} |",
    ]
    if "untrained_flagged_rate" in m:
        rows.append(f"| untrained patterns that raised an alarm | {_pct(m['untrained_flagged_rate'])} |")
        rows += [f"| - {p} | {_pct(v)} |" for p, v in m["untrained_flagged_by_pattern"].items()]
    rows += [f"| recall {s} | {_pct(v)} |" for s, v in m["per_state_recall"].items()]
    rows += [f"| accuracy {band} | {_pct(v['accuracy'])} (n={v['n']}) |" for band, v in m["accuracy_by_speed"].items()]
    if "imbalance_at_3x_detected" in m:
        rows.append(f"| imbalance at 3x the asset's own 1x detected | {_pct(m['imbalance_at_3x_detected'])} |")
        rows.append(f"| healthy machines whose baseline was refused | {len(m['healthy_machines_refused'])} |")
        rows.append(f"| commissioning on a bearing fault refused | {_pct(m['faulty_commissioning_refused'])} |")
        rows.append(f"| windows at a speed the baseline never saw told so | {_pct(m['other_speed_windows_told'])} |")
    return rows


def maintenance_section(h: dict[str, Any], command: str) -> str:
    """Card section of the maintenance package: both generators, and the clean-room fleet with baselines."""
    lines = [EVALUATION_HEADING, "", f"`{command}` (MQTT messages through the agent's parser, features and judge)", ""]
    for world, title in (
        ("training_generator", "Training generator, held-out seeds"),
        ("clean_room", "Clean-room generator, absolute model (no baseline)"),
        ("clean_room_with_baseline", "Clean-room fleet, each machine with a baseline learned at commissioning"),
        (
            "clean_room_plant",
            "Second clean-room generator (models/evaluation/plant_vibration, written after 1.2.0's training was set)",
        ),
        ("clean_room_plant_with_baseline", "Second clean-room fleet, each machine with a baseline"),
        (
            "clean_room_third",
            "Third clean-room generator (models/evaluation/third_vibration, written after 1.3.0 was set)",
        ),
        ("clean_room_third_with_baseline", "Third clean-room fleet, each machine with a baseline"),
        (
            "clean_room_fourth",
            "Fourth clean-room generator (models/evaluation/fourth_vibration, written after 1.4.0 was set)",
        ),
        ("clean_room_fourth_with_baseline", "Fourth clean-room fleet, each machine with a baseline"),
    ):
        if world not in h:
            continue
        m = h[world]
        lines += [f"### {title} (seed {m['seed']}, {m['n_windows']} windows)", "", *_maintenance_table(m), ""]
    return "\n".join(lines)


def card_sections(report: dict[str, Any], command: str) -> dict[str, str]:
    """Model-card markdown per package name, for the tasks the report holds."""
    sections = {}
    if "inspection" in report:
        for name in ("surface-inspection", "surface-inspection-onnx"):
            sections[name] = inspection_section(report["inspection"], name, command)
    if "maintenance" in report:
        sections["bearing-health"] = maintenance_section(report["maintenance"], command)
    return sections

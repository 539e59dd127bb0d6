"""Model-card text of the surface-inspection packages: architecture, recipe, held-out metrics, confusion."""

from __future__ import annotations

from typing import Any

from models.training.inspection_data import ASPECT, TRAIN_CYCLE, WIDTHS
from models.training.inspection_network import ARCHITECTURE
from models.training.surfaces import CLASSES


def _metrics_table(metrics: dict[str, dict]) -> str:
    """Markdown table of the headline metrics per model variant."""
    keys = ["balanced_accuracy", "defect_recall", "false_reject_rate", "defect_type_accuracy", "accuracy"]
    lines = ["| model | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for name, m in metrics.items():
        lines.append(f"| {name} | " + " | ".join(f"{m[k]:.4f}" for k in keys) + " |")
    return "\n".join(lines)


def _confusion_table(matrix: list[list[int]]) -> str:
    """Markdown confusion matrix, rows true, columns predicted."""
    lines = ["| true \\ predicted | " + " | ".join(CLASSES) + " |", "|---" * (len(CLASSES) + 1) + "|"]
    for label, row in zip(CLASSES, matrix, strict=True):
        lines.append(f"| {label} | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines)


def _card(training: dict[str, Any], runtime: str, size: int) -> str:
    """Model card section: architecture, data recipe, held-out metrics, confusion matrix."""
    arch = "\n".join(f"| {i + 1} | {d} | {f} |" for i, (d, f) in enumerate(ARCHITECTURE))
    recipe = training["recipe"]
    head = f"global max + average pool of layer {len(ARCHITECTURE)}, global max of the map, dropout 0.1, dense softmax"
    return f"""## Surface inspection CNN ({runtime}, {size / 1024:.0f} KiB)

Input: one grey 256x256 image (any camera frame >= 128 px, converted to grey and area-resized).
Output: probabilities over {", ".join(CLASSES)}; verdict ng when 1 - p(ok) >= {training["ng_score"]}.

| layer | op | filters |
|---|---|---|
| 0 | subtract the frame's mean grey | 1 |
{arch}
| {len(ARCHITECTURE) + 1} | 1x1 conv defect-map logits on the 16x16 grid | {len(CLASSES)} |
| {len(ARCHITECTURE) + 2} | {head} | {len(CLASSES)} |

Every conv is followed by batch norm (folded on export) and ReLU. Trained {recipe["epochs"]} epochs,
Adam with a short warmup and cosine decay, random flips/transposes, plus a training-only 16x16 defect map supervised
with the generator's masks (not exported); int8 post-training quantization calibrated on
{recipe["n_calib"]} training images.

### Data recipe
Synthetic brushed-metal surfaces from `models/training/surfaces.py`, native widths
{WIDTHS[0]}-{WIDTHS[1]} px with aspect (h/w) {ASPECT[0]:.2f}-{ASPECT[1]:.2f}, preprocessed exactly like the gateway.
Train {recipe["n_train"]} (seed tag {recipe["seeds"]["train"]}, domain slightly wider than the spec, log-uniform
widths, class mix {"/".join(CLASSES[i] for i in TRAIN_CYCLE)}, {recipe["train_faint_share"]:.0%} of the defects
from the faint end of the contrast ranges and a little below),
validation {recipe["n_val"]} (seed tag {recipe["seeds"]["val"]}, classes balanced, spec ranges, picks the threshold),
held-out {recipe["n_test"]} (seed tag {recipe["seeds"]["test"]}, exactly the DESIGN §10 ranges).

### Held-out metrics
{_metrics_table(training["metrics"])}

int8 vs float verdict agreement: LiteRT {training["agreement"]["litert_vs_float"]:.4f},
ONNX {training["agreement"]["onnx_vs_float"]:.4f}; LiteRT vs ONNX {training["agreement"]["litert_vs_onnx"]:.4f}.

### Confusion matrix ({runtime} int8, held-out)
{_confusion_table(training["confusion_matrix"])}
"""

"""Model-card text of the surface-inspection packages: architecture, recipe, held-out metrics, confusion."""

from __future__ import annotations

from typing import Any

from models.training.inspection_data import ASPECT, TRAIN_CYCLE, WIDE_ASPECT, WIDE_SHARE, WIDE_WIDTHS, WIDTHS
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


def _bands_table(bands: dict[str, dict[str, dict[str, float]]]) -> str:
    """Markdown table of the calibration-split metrics per runtime and native width band."""
    keys = ["n", "balanced_accuracy", "defect_recall", "false_reject_rate", "defect_type_accuracy"]
    lines = ["| model | frames | " + " | ".join(keys) + " |", "|---" * (len(keys) + 2) + "|"]
    for name, per_band in bands.items():
        for band, m in per_band.items():
            cells = [str(int(m[k])) if k == "n" else f"{m[k]:.4f}" for k in keys]
            lines.append(f"| {name} | {band} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _card(training: dict[str, Any], runtime: str, size: int) -> str:
    """Model card section: architecture, data recipe, held-out metrics, confusion matrix."""
    arch = "\n".join(f"| {i + 1} | {d} | {f} |" for i, (d, f) in enumerate(ARCHITECTURE))
    recipe = training["recipe"]
    head = f"global max + average pool of layer {len(ARCHITECTURE)}, global max of the map, dropout 0.1, dense softmax"
    return f"""## Surface inspection CNN ({runtime}, {size / 1024:.0f} KiB)

Input: one grey 256x256 image (any camera frame >= 128 px, converted to grey and area-resized).
Output: probabilities over {", ".join(CLASSES)}, averaged over {recipe.get("test_time_views", 1)} test-time dihedral
view(s) of the input; verdict ng when 1 - p(ok) >= {training["ng_score"]}.

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
Train {recipe["n_train"]} frames (seed tag {recipe["seeds"]["train"]}, class mix
{"/".join(CLASSES[i] for i in TRAIN_CYCLE)}), every frame preprocessed exactly like the gateway:
- {WIDE_SHARE:.0%} from the widened nuisance domain (`models/training/surface_wide.py`): native widths
  {WIDE_WIDTHS[0]}-{WIDE_WIDTHS[1]} px log-uniform, aspect (h/w) {WIDE_ASPECT[0]:.2f}-{WIDE_ASPECT[1]:.2f};
  textures brushed in any direction, cross-brushed, turned/concentric, face-milled arcs, ground, bead-blasted
  (one or a mix of two); light fields (linear ramp, radial spot, vignetting, specular band) up to
  {100 * recipe["wide_ranges"]["light_peak"][1]:.0f}% peak; mean grey
  {recipe["wide_ranges"]["mean_grey"][0]:.0f}-{recipe["wide_ranges"]["mean_grey"][1]:.0f}; noise sigma up to
  {recipe["wide_ranges"]["noise_sigma"][1]:.1f} (read or shot noise); blur; resampled sensors; colour capture
  ({recipe["wide_colour_share"]:.0%}, converted to grey by the gateway); JPEG quality
  {recipe["wide_ranges"]["jpeg_quality"][0]:.0f}-{recipe["wide_ranges"]["jpeg_quality"][1]:.0f} (sometimes saved
  twice) or PNG ({recipe["wide_png_share"]:.0%}); hard negatives on frames of every class: {recipe["hard_negatives"]};
  defects (`surface_defect_shapes.py`) curved, tapered or interrupted scratches, elliptical pits with a (one-sided)
  bright rim, branching cracks, irregular brighter or darker stains, sizes and contrasts a margin past the spec
  with extra weight at the faint end, anywhere in the frame;
- the rest from the spec generator (`models/training/surfaces.py`, native widths {WIDTHS[0]}-{WIDTHS[1]} px,
  aspect {ASPECT[0]:.2f}-{ASPECT[1]:.2f}, domain slightly wider than the spec, {recipe["train_faint_share"]:.0%} of
  the defects from the faint end of the contrast ranges and a little below).

The verdict threshold is fitted to the int8 outputs of both runtimes on validation {recipe["n_val"]} (seed tag
{recipe["seeds"]["val"]}, spec generator, classes balanced) plus a calibration split of
{recipe["threshold_split"]["n"]} (seed tag {recipe["threshold_split"]["seed_tag"]}, widened domain, spec defect
ranges); held-out {recipe["n_test"]} (seed tag {recipe["seeds"]["test"]}, exactly the DESIGN §10 ranges) is never
used for a choice.

### Held-out metrics (spec generator)
{_metrics_table(training["metrics"])}

### Calibration split (widened domain, spec defects; it set the threshold, so not an independent test)
{_bands_table(training["calibration_split_by_native_width"])}

int8 vs float verdict agreement: LiteRT {training["agreement"]["litert_vs_float"]:.4f},
ONNX {training["agreement"]["onnx_vs_float"]:.4f}; LiteRT vs ONNX {training["agreement"]["litert_vs_onnx"]:.4f}.

### Confusion matrix ({runtime} int8, held-out)
{_confusion_table(training["confusion_matrix"])}
"""

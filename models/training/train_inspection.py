"""Train the surface-inspection CNN and export it as LiteRT int8 and ONNX int8 (QDQ) packages."""

from __future__ import annotations

import logging
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.contracts import (
    InputSpec,
    OutputSpec,
    OutputTensor,
    Quantization,
    Thresholds,
)
from models.training.eval_inspection import agreement, choose_ng_score, inspection_metrics, meets_bar, verdicts
from models.training.inspection_data import (
    ASPECT,
    FAINT_DEFECTS,
    FAINT_SHARE,
    HELDOUT_DOMAIN,
    LITERT_INPUT,
    ONNX_INPUT,
    TRAIN_CYCLE,
    TRAIN_DOMAIN,
    WIDE_ASPECT,
    WIDE_SHARE,
    WIDE_WIDTHS,
    WIDTHS,
    _dihedral,
    _seed_tags,
    _to_float,
    render_split,
)
from models.training.inspection_export import _LiteRT, _Onnx, to_litert, to_onnx_int8
from models.training.inspection_network import build_model
from models.training.inspection_report import _card
from models.training.inspection_views import VIEWS, view_probabilities
from models.training.package import TrainedModel
from models.training.surface_defect_shapes import WIDE_DEFECTS
from models.training.surface_textures import TEXTURE_KINDS
from models.training.surface_wide import COLOUR_SHARE, PNG_SHARE, RESAMPLE_SHARE, WIDE_RANGES
from models.training.surfaces import CLASSES, domain_dict

logger = logging.getLogger(__name__)

VERSION = "1.3.0"
LOW_MARGIN = 0.2
SELFTEST_ITEMS = 32


@dataclass(frozen=True)
class Recipe:
    """How many samples of which seeds go where, and how long to train."""

    n_train: int
    n_val: int
    n_test: int
    epochs: int
    batch: int = 16
    lr: float = 3e-3
    n_calib: int = 200
    n_threshold: int = 60  # widened-domain calibration split (spec defects) that, with val, sets ng_score
    workers: int = 2
    aux_weight: float = 1.0
    warmup_epochs: float = 0.5


FULL = Recipe(n_train=8000, n_val=1500, n_test=1500, epochs=13, lr=2e-3, n_threshold=1500)
QUICK = Recipe(n_train=100, n_val=50, n_test=60, epochs=1, n_calib=16, workers=1)
WIDTH_BANDS = ((128, 255), (256, 511), (512, 1023), (1024, 1280))
HELDOUT_BANDS = ((128, 255), (256, 383), (384, 512))
HEADLINE = ("balanced_accuracy", "defect_recall", "false_reject_rate", "defect_type_accuracy")


def _fit(
    trainer: Any, x: np.ndarray, y: np.ndarray, cells: np.ndarray, recipe: Recipe, seed: int
) -> list[dict[str, float]]:
    """Train with Adam + cosine decay, fresh dihedral augmentation every epoch."""
    import keras

    per_epoch = math.ceil(len(x) / recipe.batch)
    warmup = int(recipe.warmup_epochs * per_epoch)
    schedule = keras.optimizers.schedules.CosineDecay(
        recipe.lr / 10,
        decay_steps=recipe.epochs * per_epoch - warmup,
        alpha=0.01,
        warmup_target=recipe.lr,
        warmup_steps=warmup,
    )
    trainer.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=[keras.losses.SparseCategoricalCrossentropy(), keras.losses.SparseCategoricalCrossentropy()],
        loss_weights=[1.0, recipe.aux_weight],
        metrics=[["accuracy"], []],
    )
    rng = np.random.default_rng([seed, 77])
    history = []
    for epoch in range(recipe.epochs):
        started = time.perf_counter()
        xa, ca = _dihedral([x, cells], rng)
        result = trainer.fit(
            _to_float(xa), [y, ca[..., None]], batch_size=recipe.batch, epochs=1, shuffle=True, verbose=0
        )
        stats = {k: float(v[-1]) for k, v in result.history.items()}
        stats["seconds"] = time.perf_counter() - started
        logger.info("epoch %d/%d %s", epoch + 1, recipe.epochs, stats)
        history.append(stats)
    return history


def _predict_float(model: Any, x: np.ndarray) -> np.ndarray:
    """Float Keras probabilities for uint8 inputs."""
    return np.asarray(model.predict(_to_float(x), batch_size=64, verbose=0), np.float64)


def _by_width(
    labels: list[str], probs: np.ndarray, widths: np.ndarray, ng_score: float, bands: tuple[tuple[int, int], ...]
) -> dict[str, dict[str, float]]:
    """Headline metrics per band of native frame widths (both ends included)."""
    out = {}
    for lo, hi in bands:
        pick = (widths >= lo) & (widths <= hi)
        if not pick.any():
            continue
        sub = inspection_metrics([t for t, k in zip(labels, pick, strict=True) if k], probs[pick], ng_score)
        out[f"{lo}-{hi}px"] = {k: sub[k] for k in ("n", *HEADLINE)}
    return out


def _select_selftest(
    labels: np.ndarray, probs: list[np.ndarray], ng_score: float, n: int = SELFTEST_ITEMS
) -> np.ndarray:
    """Held-out items for selftest.npz: all classes, all models agree, verdicts clear of the threshold."""
    scores = np.stack([1.0 - p[:, 0] for p in probs])
    top = np.stack([np.argmax(p, axis=1) for p in probs])
    clear = (np.abs(scores - ng_score) > 0.15).all(axis=0) & (top == top[0]).all(axis=0)
    per_class = [np.flatnonzero((labels == c) & clear).tolist() for c in range(len(CLASSES))]
    # round robin over the classes, so truncating to n keeps them balanced
    chosen = [i for rank in range(n) for items in per_class if rank < len(items) for i in [items[rank]]][:n]
    # a weak (quick) model may not have enough clear items: fill with any remaining held-out items
    rest = [i for i in range(len(labels)) if i not in set(chosen)]
    chosen = (chosen + rest)[:n]
    return np.array(sorted(chosen), dtype=np.int64)


def train(seed: int = 0, quick: bool = False) -> list[TrainedModel]:
    """Train the inspection CNN; return the LiteRT int8 and ONNX int8 packages of the same network."""
    recipe = QUICK if quick else FULL
    started = time.perf_counter()
    tags = _seed_tags(seed)
    x_train, y_train, c_train, _ = render_split(
        tags["train"], recipe.n_train, TRAIN_DOMAIN, recipe.workers, training=True
    )
    x_val, y_val, _, _ = render_split(tags["val"], recipe.n_val, HELDOUT_DOMAIN, recipe.workers)
    x_test, y_test, _, s_test = render_split(tags["test"], recipe.n_test, HELDOUT_DOMAIN, recipe.workers)
    x_cal, y_cal, _, s_cal = render_split(tags["calib"], recipe.n_threshold, HELDOUT_DOMAIN, recipe.workers, wide=True)
    data_seconds = time.perf_counter() - started
    logger.info("rendered %d/%d/%d items in %.1f s", len(x_train), len(x_val), len(x_test), data_seconds)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    model, trainer = build_model()
    fit_started = time.perf_counter()
    history = _fit(trainer, x_train, y_train, c_train, recipe, seed)
    fit_seconds = time.perf_counter() - fit_started

    keep = os.environ.get("INSPECTION_KERAS_OUT")
    if keep:  # debugging aid: keep the float network when an export step is being investigated
        model.save(keep)
    calib = x_train[np.random.default_rng([seed, 5]).permutation(len(x_train))[: recipe.n_calib]]
    tflite_bytes = to_litert(model, calib)
    with tempfile.TemporaryDirectory() as tmp:
        onnx_bytes = to_onnx_int8(model, calib, Path(tmp))
    lite, ort_model = _LiteRT(tflite_bytes), _Onnx(onnx_bytes)
    if abs(lite.input_quantization.scale - 1 / 255) > 1e-6 or lite.input_quantization.zero_point != 0:
        raise RuntimeError(f"LiteRT input quantization is {lite.input_quantization}, expected 1/255 and 0")

    probs: dict[str, dict[str, np.ndarray]] = {}
    # every figure and the threshold on the scores the gateway computes: averaged over the test-time views
    for split, x in (("val", x_val), ("test", x_test), ("calib", x_cal)):
        probs[split] = {
            "float": view_probabilities(lambda b: _predict_float(model, b), x, VIEWS),
            "litert_int8": view_probabilities(lite.probabilities, x, VIEWS),
            "onnx_int8": view_probabilities(lambda b: ort_model.probabilities(_to_float(b)), x, VIEWS),
        }
    # one threshold for both packages, fitted to what ships (the quantized outputs), on the spec-domain
    # validation split and the widened-domain calibration split: seeds no test split of either generator uses
    fit_labels = [CLASSES[i] for i in np.concatenate([y_val, y_cal])]
    ng_score = choose_ng_score(
        fit_labels + fit_labels,
        np.concatenate([probs[s][r] for r in ("litert_int8", "onnx_int8") for s in ("val", "calib")]),
    )
    test_labels = [CLASSES[i] for i in y_test]
    metrics = {name: inspection_metrics(test_labels, p, ng_score) for name, p in probs["test"].items()}
    v = {name: verdicts(p, ng_score) for name, p in probs["test"].items()}
    agree = {
        "litert_vs_float": agreement(v["litert_int8"], v["float"]),
        "onnx_vs_float": agreement(v["onnx_int8"], v["float"]),
        "litert_vs_onnx": agreement(v["litert_int8"], v["onnx_int8"]),
    }
    by_size = _by_width(test_labels, probs["test"]["litert_int8"], s_test[:, 1], ng_score, HELDOUT_BANDS)
    cal_labels = [CLASSES[i] for i in y_cal]
    calibration_split = {
        name: {
            "all": _by_width(cal_labels, probs["calib"][name], s_cal[:, 1], ng_score, ((0, 10**6),))["0-1000000px"],
            **_by_width(cal_labels, probs["calib"][name], s_cal[:, 1], ng_score, WIDTH_BANDS),
        }
        for name in ("litert_int8", "onnx_int8")
    }

    chosen = _select_selftest(y_test, list(probs["test"].values()), ng_score)
    selftest_u8 = x_test[chosen]
    selftest_labels = [CLASSES[i] for i in y_test[chosen]]
    onnx_self = view_probabilities(lambda b: ort_model.probabilities(_to_float(b)), selftest_u8, VIEWS)
    lite_self = view_probabilities(lite.probabilities, selftest_u8, VIEWS)
    agree["selftest_litert_vs_onnx"] = agreement(verdicts(lite_self, ng_score), verdicts(onnx_self, ng_score))
    latency = lite.latency_ms(x_test[0])
    # a Raspberry Pi class gateway is several times slower than the training machine
    max_latency_ms = float(max(100, 10 * math.ceil(latency)))
    total_seconds = time.perf_counter() - started

    training: dict[str, Any] = {
        "recipe": {
            "generator": "models.training.surfaces.generate_surface",
            "seeds": tags,
            "seed": seed,
            "quick": quick,
            "n_train": recipe.n_train,
            "n_val": recipe.n_val,
            "n_test": recipe.n_test,
            "classes_balanced": True,  # validation and held-out; training follows train_class_cycle
            "train_class_cycle": [CLASSES[i] for i in TRAIN_CYCLE],
            "train_faint_share": FAINT_SHARE,
            "train_faint_defects": asdict(FAINT_DEFECTS),
            "train_width_sampling": "log-uniform",
            "native_width_px": list(WIDTHS),
            "aspect_h_over_w": list(ASPECT),
            "train_domain": domain_dict(TRAIN_DOMAIN),
            "heldout_domain": domain_dict(HELDOUT_DOMAIN),
            "epochs": recipe.epochs,
            "test_time_views": VIEWS,
            "batch": recipe.batch,
            "lr": recipe.lr,
            "warmup_epochs": recipe.warmup_epochs,
            "augmentation": "random flips and transposes",
            "wide_share": WIDE_SHARE,
            "wide_native_width_px": list(WIDE_WIDTHS),
            "wide_aspect_h_over_w": list(WIDE_ASPECT),
            "wide_ranges": {k: list(v) for k, v in WIDE_RANGES.items()},
            "wide_texture_kinds": TEXTURE_KINDS,
            "wide_png_share": PNG_SHARE,
            "wide_colour_share": COLOUR_SHARE,
            "wide_resample_share": RESAMPLE_SHARE,
            "wide_defects": asdict(WIDE_DEFECTS),
            "hard_negatives": "brush streaks/tool marks (3-9 grey), specks < 1.1% of width, grain networks, "
            "blotches <= 9 grey levels",
            "threshold_split": {"n": recipe.n_threshold, "seed_tag": tags["calib"], "domain": "wide, spec defects"},
            "n_calib": recipe.n_calib,
        },
        "ng_score": ng_score,
        "metrics": {name: {k: m[k] for k in m if k not in ("labels",)} for name, m in metrics.items()},
        "meets_bar": {name: meets_bar(m) for name, m in metrics.items()},
        "by_native_width": by_size,
        "calibration_split_by_native_width": calibration_split,
        "agreement": agree,
        "confusion_matrix": metrics["litert_int8"]["confusion_matrix"],
        "confusion_labels": list(CLASSES),
        "history": history,
        "seconds": {"data": data_seconds, "fit": fit_seconds, "total": total_seconds},
        "latency_ms_trainer_cpu": latency,
        "params": int(model.count_params()),
    }
    logger.info("held-out metrics at ng_score %.2f: %s", ng_score, training["meets_bar"])

    labels = list(CLASSES)
    thresholds = Thresholds(ng_score=ng_score, low_margin=LOW_MARGIN, max_latency_ms=max_latency_ms)
    lite_out = OutputSpec(
        tensors=[
            OutputTensor(
                name=str(lite.out["name"]),
                shape=[-1, len(CLASSES)],
                dtype="uint8",
                quantization=lite.output_quantization,
                meaning="class_probabilities",
            )
        ],
        labels=labels,
        negative_label="ok",
    )
    onnx_out = OutputSpec(
        tensors=[
            OutputTensor(
                name=ort_model.output_name, shape=[-1, len(CLASSES)], dtype="float32", meaning="class_probabilities"
            )
        ],
        labels=labels,
        negative_label="ok",
    )
    description = "Brushed/machined metal surface inspection: ok, scratch, pit, crack, stain"
    litert_training = {**training, "file_bytes": len(tflite_bytes)}
    onnx_training = {
        **training,
        "file_bytes": len(onnx_bytes),
        "confusion_matrix": metrics["onnx_int8"]["confusion_matrix"],
    }
    return [
        TrainedModel(
            name="surface-inspection",
            version=VERSION,
            task="quality_inspection",
            runtime="litert",
            file_name="model.tflite",
            model_bytes=tflite_bytes,
            input=replace_quantization(LITERT_INPUT, lite.input_quantization).model_copy(
                update={"test_time_views": VIEWS}
            ),
            output=lite_out,
            thresholds=thresholds,
            description=description + " (LiteRT int8)",
            training=litert_training,
            selftest_inputs=selftest_u8,
            selftest_labels=selftest_labels,
            card_markdown=_card(litert_training, "litert", len(tflite_bytes)),
        ),
        TrainedModel(
            name="surface-inspection-onnx",
            version=VERSION,
            task="quality_inspection",
            runtime="onnx",
            file_name="model.onnx",
            model_bytes=onnx_bytes,
            input=ONNX_INPUT.model_copy(update={"test_time_views": VIEWS}),
            output=onnx_out,
            thresholds=thresholds,
            description=description + " (ONNX int8 QDQ)",
            training=onnx_training,
            selftest_inputs=_to_float(selftest_u8),
            selftest_labels=list(selftest_labels),
            card_markdown=_card(onnx_training, "onnx", len(onnx_bytes)),
        ),
    ]


def replace_quantization(spec: InputSpec, quantization: Quantization) -> InputSpec:
    """The input spec with the quantization the converter actually stored."""
    return spec.model_copy(update={"quantization": quantization})


if __name__ == "__main__":
    import argparse
    import json

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="write the model files and metrics here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    packages = train(args.seed, args.quick)
    summary = {
        p.name: {
            "bytes": len(p.model_bytes),
            "thresholds": p.thresholds.model_dump(),
            "metrics": p.training["metrics"],
            "agreement": p.training["agreement"],
            "meets_bar": p.training["meets_bar"],
            "by_native_width": p.training["by_native_width"],
            "calibration_split": p.training["calibration_split_by_native_width"],
            "seconds": p.training["seconds"],
        }
        for p in packages
    }
    print(json.dumps(summary, indent=1, default=str))
    print(packages[0].card_markdown)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        for p in packages:
            (args.out / f"{p.name}-{p.file_name}").write_bytes(p.model_bytes)
            np.savez(args.out / f"{p.name}-selftest.npz", inputs=p.selftest_inputs, labels=np.array(p.selftest_labels))
        (args.out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))

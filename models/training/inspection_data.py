"""Training and held-out data of the surface-inspection model: rendered surfaces as the gateway preprocesses them."""

from __future__ import annotations

import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from edge_agent.contracts import GrayscaleStep, InputSpec, Quantization, ResizeStep, ScaleStep
from edge_agent.pipelines.image_preprocess import preprocess_image
from models.training.surface_defect_shapes import WIDE_DEFECTS
from models.training.surface_wide import generate_wide, wide_size
from models.training.surfaces import CLASSES, DEFECTS, DefectSpec, SurfaceDomain, generate_surface

SIDE = 256
MIN_PX = 128
WIDTHS = (128, 512)  # native image widths drawn uniformly (both ends included)
ASPECT = (0.75, 4 / 3)  # height / width
_STEPS: list[GrayscaleStep | ResizeStep | ScaleStep] = [
    GrayscaleStep(),
    ResizeStep(width=SIDE, height=SIDE, interpolation="area"),
    ScaleStep(factor=1 / 255),
]
LITERT_INPUT = InputSpec(
    name="image",
    shape=[-1, SIDE, SIDE, 1],
    dtype="uint8",
    layout="NHWC",
    quantization=Quantization(scale=1 / 255, zero_point=0),
    preprocessing=list(_STEPS),
    min_image_px=MIN_PX,
)
ONNX_INPUT = InputSpec(
    name="image",
    shape=[-1, SIDE, SIDE, 1],
    dtype="float32",
    layout="NHWC",
    preprocessing=list(_STEPS),
    min_image_px=MIN_PX,
)
# training sees a slightly wider domain than the spec, so the spec's edges are not the model's edges
TRAIN_DOMAIN = SurfaceDomain(
    mean_grey=(70.0, 190.0),
    gradient=(0.0, 0.3),
    noise_sigma=(0.0, 7.0),
    blur_sigma=(0.0, 1.2),
    texture_sigma=(1.2, 7.0),
)
HELDOUT_DOMAIN = SurfaceDomain()
# training-only: a share of the defects is drawn from the faint end of (and a little beyond) the spec,
# where the misses are; validation and held-out data keep exactly the DESIGN §10 ranges
FAINT_DEFECTS = DefectSpec(
    scratch_width_px=(0.8, 3.0),
    scratch_length=(0.12, 0.60),
    scratch_contrast=(20.0, 38.0),
    pit_diameter=(0.018, 0.06),
    pit_contrast=(32.0, 55.0),
    crack_length=(0.08, 0.40),
    crack_width_px=(0.7, 2.0),
    crack_contrast=(24.0, 42.0),
    stain_diameter=(0.07, 0.26),
    stain_contrast=(11.0, 18.0),
)
FAINT_SHARE = 0.5  # of the training defects
# training class mix: a quarter ok frames (the false rejects; every frame may carry hard negatives)
TRAIN_CYCLE = (0, 1, 2, 3, 4, 0, 1, 3, 4, 2, 4, 0)
# share of training frames from the widened nuisance domain (surface_wide); the rest keep the spec
# generator with its faint defects, so the model's skill on the spec world is kept
WIDE_SHARE = 0.65
WIDE_WIDTHS = (128, 1280)  # native widths of widened-domain frames (log-uniform), past the 1024 px spec use
WIDE_ASPECT = (0.6, 1.67)  # height / width (log-uniform)


def _seed_tags(seed: int) -> dict[str, int]:
    """Disjoint generator seeds per split: held-out data never shares a seed with training."""
    return {"train": 1000 * seed + 11, "val": 1000 * seed + 22, "test": 1000 * seed + 33, "calib": 1000 * seed + 44}


GRID = 16  # cells per side of the training-only defect map (one cell = 16x16 model pixels)


def _cell_map(mask: np.ndarray, label_idx: int) -> np.ndarray:
    """Class index per model-space grid cell: the defect class where the mask touches the cell, else 0."""
    import cv2

    cover = cv2.resize(mask.astype(np.float32), (GRID, GRID), interpolation=cv2.INTER_AREA)
    # 0.004 of a cell is one model pixel: a thin scratch crossing the cell counts
    return np.where(cover > 0.004, label_idx, 0).astype(np.uint8)


def _render_wide(
    rng: np.random.Generator, label_idx: int, defects: DefectSpec
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """One widened-domain frame: model input, mask, native (h, w)."""
    height, width = wide_size(rng, WIDE_WIDTHS, WIDE_ASPECT)
    image, mask, _ = generate_wide(rng, CLASSES[label_idx], height, width, defects)
    return preprocess_image(image, LITERT_INPUT), mask, (height, width)


def _render_range(
    tag: int, start: int, stop: int, domain: SurfaceDomain, training: bool = False, wide: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Items start..stop of one split: uint8 model inputs, class indices, cell maps, native (h, w).

    Evaluation splits cycle the classes and draw defects from the spec. A training split uses
    ``TRAIN_CYCLE``, renders ``WIDE_SHARE`` of its frames in the widened domain (wider defect ranges)
    and draws ``FAINT_SHARE`` of the other frames' defects from ``FAINT_DEFECTS``. ``wide`` (not
    training) renders every frame in the widened domain with the spec's defect ranges: the calibration split.
    """
    inputs = np.empty((stop - start, SIDE, SIDE, 1), np.uint8)
    classes = np.empty(stop - start, np.int64)
    cells = np.empty((stop - start, GRID, GRID), np.uint8)
    sizes = np.empty((stop - start, 2), np.int64)
    for row, index in enumerate(range(start, stop)):
        rng = np.random.default_rng([tag, index])
        label_idx = TRAIN_CYCLE[index % len(TRAIN_CYCLE)] if training else index % len(CLASSES)
        use_wide = wide or (training and np.random.default_rng([tag, index, 2]).random() < WIDE_SHARE)
        if use_wide:
            inputs[row], mask, sizes[row] = _render_wide(rng, label_idx, WIDE_DEFECTS if training else DEFECTS)
            classes[row], cells[row] = label_idx, _cell_map(mask, label_idx)
            continue
        faint = training and label_idx != 0 and np.random.default_rng([tag, index, 1]).random() < FAINT_SHARE
        if training:
            # log-uniform: small frames (upsampled, blurrier defects) are the weak spot, half are < 256 px
            width = min(WIDTHS[1], int(math.exp(rng.uniform(math.log(WIDTHS[0]), math.log(WIDTHS[1] + 1)))))
        else:
            width = int(rng.integers(WIDTHS[0], WIDTHS[1] + 1))
        height = max(MIN_PX, round(width * rng.uniform(*ASPECT)))
        defects = FAINT_DEFECTS if faint else DEFECTS
        sample = generate_surface(rng, CLASSES[label_idx], (height, width), domain, defects)
        # exactly what the gateway computes from the decoded camera frame
        inputs[row] = preprocess_image(sample.image, LITERT_INPUT)
        classes[row], sizes[row] = label_idx, (height, width)
        cells[row] = _cell_map(sample.mask, label_idx)
    return inputs, classes, cells, sizes


def render_split(
    tag: int, n: int, domain: SurfaceDomain, workers: int = 1, training: bool = False, wide: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Render a split of n items (classes interleaved), optionally in worker processes."""
    if workers <= 1 or n < 200:
        return _render_range(tag, 0, n, domain, training, wide)
    bounds = [int(b) for b in np.linspace(0, n, 4 * workers + 1)]
    starts, stops = bounds[:-1], bounds[1:]
    # spawn, not fork: the parent may already hold TensorFlow threads
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        parts = list(
            pool.map(
                _render_range,
                [tag] * len(starts),
                starts,
                stops,
                [domain] * len(starts),
                [training] * len(starts),
                [wide] * len(starts),
            )
        )
    x, y, cells, sizes = (np.concatenate([p[i] for p in parts]) for i in range(4))
    return x, y, cells, sizes


def _dihedral(arrays: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """Same random flip/transpose per item on images and cell maps: a turned surface keeps its class."""
    outs = [a.copy() for a in arrays]
    code = rng.integers(0, 8, len(arrays[0]))
    for c in range(1, 8):
        idx = np.flatnonzero(code == c)
        if idx.size == 0:
            continue
        for out in outs:
            part = out[idx]
            if c & 1:
                part = part[:, :, ::-1]
            if c & 2:
                part = part[:, ::-1]
            if c & 4:
                part = np.swapaxes(part, 1, 2)
            out[idx] = part
    return outs


def _to_float(x: np.ndarray) -> np.ndarray:
    """uint8 grey pixels to the float 0..1 input of the Keras/ONNX model (ScaleStep 1/255)."""
    return x.astype(np.float32) * np.float32(1 / 255)

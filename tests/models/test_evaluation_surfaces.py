"""Tests for the clean-room surface evaluation generator (models/evaluation/surface_world.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import cv2
import numpy as np
import pytest

from models.evaluation.surface_world import CLASSES, EvalImage, images, render

SMALL = (128, 192, 256)
MODULES = ("surface_world.py", "surface_defects.py", "surface_textures.py")


def _grey(img: np.ndarray) -> np.ndarray:
    return img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)


def _twins(seed: int, label: str, size: int = 256) -> tuple[np.ndarray, np.ndarray, dict]:
    ok, _ = render(np.random.default_rng(seed), "ok", size, size)
    bad, params = render(np.random.default_rng(seed), label, size, size)
    return _grey(ok).astype(np.float32), _grey(bad).astype(np.float32), params


@pytest.fixture(scope="module")
def batch() -> list[EvalImage]:
    return images(seed=3, n_per_class=6, sizes=SMALL)


def test_given_same_seed_when_generating_then_images_are_identical(batch: list[EvalImage]) -> None:
    again = images(seed=3, n_per_class=6, sizes=SMALL)
    assert [(e.label, e.encoded, e.params) for e in again] == [(e.label, e.encoded, e.params) for e in batch]
    other = images(seed=4, n_per_class=1, sizes=SMALL)
    assert other[0].encoded != batch[0].encoded


def test_given_batch_when_counting_then_every_class_size_pair_occurs_equally(batch: list[EvalImage]) -> None:
    counts = {(c, s): 0 for c in CLASSES for s in SMALL}
    for e in batch:
        counts[(e.label, e.width)] += 1
    assert set(counts.values()) == {2}


def test_given_encoded_images_when_decoding_then_size_matches_and_ok_mean_grey_in_spec(batch: list[EvalImage]) -> None:
    for e in batch:
        img = cv2.imdecode(np.frombuffer(e.encoded, np.uint8), cv2.IMREAD_UNCHANGED)
        assert img is not None and img.shape[:2] == (e.height, e.width)
        assert min(e.width, e.height) >= 128 and max(e.width, e.height) / min(e.width, e.height) <= 4 / 3 + 1e-6
        if e.label == "ok":
            assert 80 <= _grey(img).mean() <= 180
        if e.params["camera"]["encoding"]["format"] == "jpeg":
            assert 70 <= e.params["camera"]["encoding"]["quality"] <= 95


@pytest.mark.parametrize("label", CLASSES[1:])
def test_given_same_seed_when_adding_a_defect_then_only_its_bbox_changes(label: str) -> None:
    for seed in range(4):
        ok, bad, params = _twins(seed, label)
        x0, y0, x1, y1 = params["defect"]["bbox"]
        diff = np.abs(bad - ok)
        diff[y0:y1, x0:x1] = 0
        assert diff.max() <= 1, "colour-to-grey rounding may move a level, nothing more"
        assert np.abs(bad - ok)[y0:y1, x0:x1].max() >= 12


def test_given_scratch_when_measuring_along_its_path_then_contrast_and_length_in_spec() -> None:
    for seed in range(6):
        ok, bad, params = _twins(seed, "scratch")
        d = params["defect"]
        assert 0.15 <= d["length_frac"] <= 0.60 and 25 <= abs(d["contrast"]) <= 70
        assert 1.0 <= d["thickness_px"] <= 3.0
        pts = np.round(np.array(d["path"])).astype(int)
        # The path samples sit on the line centre, give or take a pixel of rounding: take the strongest nearby.
        change = [np.abs(bad - ok)[y - 1 : y + 2, x - 1 : x + 2].max() for x, y in pts]
        assert np.median(change) >= 25 - 2


def test_given_stain_when_measuring_then_size_and_mean_change_in_spec() -> None:
    for seed in range(6):
        ok, bad, params = _twins(seed, "stain")
        d = params["defect"]
        delta = bad - ok
        # The noise is shared between twins, so delta is the stain (plus rounding).
        inside = np.abs(delta) >= abs(d["peak_contrast"]) / 2
        ys, xs = np.nonzero(inside)
        extent = max(np.ptp(xs), np.ptp(ys)) + 1
        assert 0.08 * 256 - 2 <= extent <= 0.25 * 256 + 2
        assert 12 - 1 <= abs(delta[inside].mean()) <= 40 + 1


def test_given_pit_when_measuring_then_dark_and_2_to_6_percent_wide() -> None:
    for size in (128, 256):
        for seed in range(6):
            ok, bad, params = _twins(seed, "pit", size)
            d = params["defect"]
            delta = bad - ok
            core = delta <= d["contrast"] / 2
            ys, xs = np.nonzero(core)
            extent = max(np.ptp(xs), np.ptp(ys)) + 1
            assert 0.02 * size - 1.5 <= extent <= 0.06 * size + 1.5
            assert delta.min() < -25


def test_given_crack_when_rendered_then_it_is_dark_and_spans_10_to_40_percent() -> None:
    for seed in range(6):
        ok, bad, params = _twins(seed, "crack")
        d = params["defect"]
        assert 0.10 <= d["span_frac"] <= 0.40
        assert (bad - ok).min() <= d["contrast"] + 2 and (bad - ok).max() <= 1


def test_given_evaluation_modules_when_parsing_imports_then_no_training_or_agent_code_is_used() -> None:
    root = Path(__file__).resolve().parents[2] / "models" / "evaluation"
    for name in MODULES:
        tree = ast.parse((root / name).read_text())
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for n in names:
                assert not n.startswith(("models.training", "edge_agent")), f"{name} imports {n}"


@pytest.mark.parametrize("label", ["stain", "pit"])
def test_given_a_wide_flat_frame_when_a_defect_outgrows_its_height_then_it_is_cut_at_the_edge(label: str) -> None:
    # Given frames four times wider than high, where a defect sized from the width can be taller than the frame
    for seed in range(12):
        # When rendered, then the image has the frame's shape and the defect's box stays inside it
        image, params = render(np.random.default_rng(seed), label, 1024, 200)
        assert image.shape[:2] == (200, 1024)
        x0, y0, x1, y1 = params["defect"]["bbox"]
        assert 0 <= y0 < y1 <= 200 and 0 <= x0 < x1 <= 1024

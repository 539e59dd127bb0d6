"""Tests of the second clean-room surface evaluator (models/evaluation/plant_surfaces.py) against DESIGN.md §10."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from models.evaluation import plant_surfaces as ps

SMALL_SIZES = (128, 192, 256, 384)
MODULES = [Path(ps.__file__), Path(ps.__file__).with_name("plant_surface_defects.py")]


@pytest.fixture(scope="module")
def batch() -> list[ps.PlantImage]:
    return ps.images(11, 8, SMALL_SIZES)


def _grey(im: ps.PlantImage) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(im.encoded, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert img is not None
    return img


def test_given_a_seed_when_rendered_twice_then_bytes_are_identical_and_another_seed_differs(batch):
    again = ps.images(11, 8, SMALL_SIZES)
    other = ps.images(12, 8, SMALL_SIZES)

    assert [(i.label, i.encoded, i.params) for i in again] == [(i.label, i.encoded, i.params) for i in batch]
    assert sum(a.encoded != b.encoded for a, b in zip(batch, other)) == len(batch)


def test_given_n_per_class_when_rendered_then_every_class_and_width_appears_n_times(batch):
    assert len(batch) == 8 * len(ps.CLASSES)
    for label in ps.CLASSES:
        widths = [i.width for i in batch if i.label == label]
        assert len(widths) == 8
        assert set(widths) == set(SMALL_SIZES)


def test_given_default_sizes_when_one_cycle_is_rendered_then_all_widths_and_some_non_square_frames_appear():
    ims = ps.images(5, len(ps.SIZES))

    assert {i.width for i in ims} == set(ps.SIZES)
    assert any(i.height != i.width for i in ims)
    assert all(i.height >= 128 for i in ims)


def test_given_encoded_frames_when_decoded_then_size_matches_and_params_are_json(batch):
    encodings = set()
    for im in batch:
        raw = cv2.imdecode(np.frombuffer(im.encoded, np.uint8), cv2.IMREAD_UNCHANGED)
        assert raw is not None
        assert raw.shape[:2] == (im.height, im.width)
        assert raw.ndim == 2 or raw.shape[2] == 3
        assert im.params["camera_encoding"] in ("jpeg", "png")
        encodings.add(im.params["camera_encoding"])
        if im.params["camera_encoding"] == "jpeg":
            assert 70 <= im.params["camera_quality"] <= 95
        assert im.params["camera_noise_max"] <= 6.0
        json.dumps(im.params)
    assert encodings == {"jpeg", "png"}


def test_given_ok_frames_when_decoded_then_mean_grey_is_within_the_exposure_range(batch):
    means = [float(_grey(i).mean()) for i in batch if i.label == "ok"]

    assert means and all(80 <= m <= 180 for m in means)


def test_given_defect_frames_when_params_are_read_then_geometry_and_contrast_are_inside_the_spec():
    ims = ps.images(21, 40, SMALL_SIZES)
    for im in ims:
        if im.label == "ok":
            assert "defect" not in im.params
            continue
        d = im.params["defect"]
        x0, y0, x1, y1 = d["bbox"]
        assert 0 <= x0 < x1 <= im.width and 0 <= y0 < y1 <= im.height
        if im.label == "scratch":
            assert 0.15 <= d["length_frac"] <= 0.60
            assert 1.0 <= d["width_at_256"] <= 3.0
            assert 25 <= abs(d["contrast"]) <= 70
        elif im.label == "pit":
            assert 0.02 <= d["diameter_frac"] <= 0.06
            assert d["contrast"] < 0
        elif im.label == "crack":
            assert 0.10 <= d["length_frac"] <= 0.40
            assert d["contrast"] < 0
        else:
            assert 0.08 <= d["diameter_frac"] <= 0.25
            assert 12 <= abs(d["contrast"]) <= 40


@pytest.mark.parametrize("label", ["scratch", "pit", "crack", "stain"])
def test_given_one_scene_when_a_defect_is_added_then_only_pixels_near_it_change(label):
    for k in range(4):
        scene = ps.scene_seed(99, "ok", k)
        ok, bad = ps.render(scene, "ok", 256), ps.render(scene, label, 256)
        diff = np.abs(_grey(ok).astype(int) - _grey(bad).astype(int))
        x0, y0, x1, y1 = bad.params["defect"]["bbox"]
        near = np.zeros_like(diff, bool)
        margin = 24  # blur, demosaicing and 16 px JPEG colour blocks spread a change a little
        near[max(0, y0 - margin) : y1 + margin, max(0, x0 - margin) : x1 + margin] = True

        assert ok.params == {k: v for k, v in bad.params.items() if k != "defect"}
        assert diff[~near].max(initial=0) == 0
        assert diff[y0:y1, x0:x1].max() >= 8


def test_given_the_generator_source_when_parsed_then_it_imports_nothing_from_training_or_the_agent():
    for path in MODULES:
        tree = ast.parse(path.read_text())
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        roots = {n.split(".")[0] for n in names}

        assert roots <= {"__future__", "math", "collections", "dataclasses", "typing", "cv2", "numpy", "models"}
        assert not any(n.startswith(("models.training", "edge_agent")) for n in names)
        assert "models.training" not in path.read_text() and "edge_agent" not in path.read_text()

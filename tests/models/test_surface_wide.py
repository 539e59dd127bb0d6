"""The widened training domain of the inspection model: deterministic, every class renders, nuisance stays benign."""

from __future__ import annotations

import numpy as np
import pytest

from models.training.surface_textures import hard_negatives, illumination, texture
from models.training.surface_wide import generate_wide, wide_size
from models.training.surfaces import CLASSES


@pytest.mark.parametrize("label", CLASSES)
def test_given_a_seed_when_a_wide_frame_is_rendered_twice_then_the_pixels_match(label: str) -> None:
    first, mask, _ = generate_wide(np.random.default_rng([5, 1]), label, 150, 200)
    again, _, _ = generate_wide(np.random.default_rng([5, 1]), label, 150, 200)
    assert np.array_equal(first, again)
    assert first.shape[:2] == mask.shape == (150, 200) and first.dtype == np.uint8
    assert mask.any() == (label != "ok")


def test_given_many_draws_when_sizes_are_drawn_then_they_cover_small_large_and_non_square_frames() -> None:
    rng = np.random.default_rng(3)
    sizes = np.array([wide_size(rng, (128, 1280), (0.6, 1.67)) for _ in range(400)])
    assert sizes.min() >= 128 and sizes[:, 1].max() > 1000 and sizes[:, 1].min() < 160
    assert (sizes[:, 0] != sizes[:, 1]).mean() > 0.9


def test_given_a_light_field_when_drawn_then_its_peak_deviation_is_the_one_asked_for() -> None:
    light = illumination(np.random.default_rng(8), 120, 160, 0.25)
    assert abs(np.abs(light / light.mean() - 1).max() - 0.25) < 1e-3


def test_given_textures_of_every_kind_when_drawn_then_they_are_unit_std_fields() -> None:
    names = set()
    for seed in range(30):
        field, name = texture(np.random.default_rng(seed), 128, 160)
        names.update(name.split("+"))
        assert field.shape == (128, 160) and abs(float(field.std()) - 1) < 0.1
    assert {"brushed", "turned", "milled", "blasted"} <= names


def test_given_hard_negatives_when_drawn_then_smooth_blotches_stay_below_the_faintest_stain() -> None:
    checked = 0
    for seed in range(40):
        added, kinds = hard_negatives(np.random.default_rng(seed), 256, 256, brush_like=False)
        if kinds == ["blotches"]:
            # a stain is 12 grey levels or more (DESIGN §10); benign blotches must not reach it
            assert np.abs(added).max() < 12
            checked += 1
    assert checked > 0

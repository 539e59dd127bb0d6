"""Physics of the synthetic surface generator: what a plant engineer would check on its images."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from models.training.surfaces import CLASSES, SurfaceDomain, generate_batch, generate_surface

# a clean camera: no blur, no noise, best JPEG, mid grey, so measured contrasts are the drawn ones
CLEAN = SurfaceDomain(
    mean_grey=(128.0, 128.0), gradient=(0.0, 0.0), noise_sigma=(0.0, 0.0), blur_sigma=(0.0, 0.0), jpeg_quality=(95, 95)
)


def _pair(seed: int, label: str, size: int | tuple[int, int] = 256, domain: SurfaceDomain | None = None):
    """The same surface rendered without and with a defect (same rng state)."""
    ok = generate_surface(np.random.default_rng(seed), "ok", size, domain)
    bad = generate_surface(np.random.default_rng(seed), label, size, domain)
    return ok, bad


def _num(params: dict[str, float | str]) -> dict[str, float]:
    """The numeric drawn parameters of a sample."""
    return {k: v for k, v in params.items() if isinstance(v, float)}


def _diff(ok, bad) -> np.ndarray:
    """Signed pixel difference defect render minus defect-free render."""
    return bad.image.astype(np.float64) - ok.image.astype(np.float64)


def test_same_seed_gives_identical_samples() -> None:
    # given two generators with the same seed, when each renders a batch, then the batches are identical
    a = generate_batch(7, 2, sizes=(128, 256))
    b = generate_batch(7, 2, sizes=(128, 256))
    assert [s.label for s in a] == [s.label for s in b]
    for x, y in zip(a, b, strict=True):
        assert x.jpeg == y.jpeg
        np.testing.assert_array_equal(x.image, y.image)
        np.testing.assert_array_equal(x.mask, y.mask)
        assert x.params == y.params


def test_every_class_is_rendered_at_every_size() -> None:
    # given as many sizes as classes (the held-out evaluation's 5 x 5), when rendering one round per size,
    # then each class appears at each size once: no class is only ever seen at one size
    sizes = (128, 192, 256, 384, 512)
    batch = generate_batch(4, len(sizes), sizes=sizes)
    pairs = {(s.label, s.image.shape[1]) for s in batch}
    assert pairs == {(label, size) for label in CLASSES for size in sizes}


def test_other_seed_gives_other_images() -> None:
    # given two seeds, when rendering, then the surfaces differ
    a = generate_batch(1, 1)[0]
    b = generate_batch(2, 1)[0]
    assert not np.array_equal(a.image, b.image)


def test_batch_is_balanced_and_labels_match_masks() -> None:
    # given a batch, then every class appears equally and only defects have a mask
    batch = generate_batch(3, 3)
    assert [s.label for s in batch].count("ok") == 3
    assert {s.label for s in batch} == set(CLASSES)
    for sample in batch:
        assert sample.mask.dtype == bool and sample.mask.shape == sample.image.shape
        assert sample.mask.any() == (sample.label != "ok")


@pytest.mark.parametrize("label", CLASSES[1:])
def test_mask_is_where_the_defect_is(label: str) -> None:
    # given the same surface rendered with and without a defect (realistic camera),
    # then the images differ strongly inside the mask and barely outside it
    for seed in range(6):
        ok, bad = _pair(seed, label)
        diff = np.abs(_diff(ok, bad))
        inside, outside = diff[bad.mask].mean(), diff[~bad.mask].mean()
        assert inside > 5 * outside + 3, (seed, inside, outside)
        # nothing defect-like far away from the mask (a stain's smooth tail is allowed next to it)
        far = ~cv2.dilate(bad.mask.astype(np.uint8), np.ones((41, 41), np.uint8)).astype(bool)
        assert np.percentile(diff[far], 99.9) <= 8, (seed, np.percentile(diff[far], 99.9))


def test_scratch_length_width_and_contrast_within_spec() -> None:
    # given clean scratches at 256 px, then length is 15-60% of the width, width 1-3 px, contrast 25-70
    for seed in range(12):
        ok, bad = _pair(seed, "scratch", 256, CLEAN)
        p = _num(bad.params)
        assert 0.15 * 256 <= p["length_px"] <= 0.60 * 256
        assert 1.0 <= p["width_px"] <= 3.0
        assert 25 <= abs(p["contrast"]) <= 70
        ys, xs = np.nonzero(bad.mask)
        pts = np.stack([xs, ys], 1).astype(np.float64)
        # measured length: extent along the principal axis of the footprint
        centred = pts - pts.mean(0)
        axis = np.linalg.svd(centred, full_matrices=False)[2][0]
        along = centred @ axis
        length = along.max() - along.min() + 1
        assert 0.15 * 256 * 0.95 <= length <= 0.60 * 256 * 1.05, (seed, length)
        # footprint area / length: the line width plus anti-aliasing, no more than ~1 px extra
        width = bad.mask.sum() / length
        assert 0.9 <= width <= 4.5, (seed, width)
        # the core of the line shows the drawn contrast (JPEG q95 costs a few grey levels)
        diff = _diff(ok, bad)[bad.mask]
        peak = np.percentile(np.abs(diff), 90)
        assert 0.6 * abs(p["contrast"]) <= peak <= abs(p["contrast"]) + 8, (seed, peak, p["contrast"])
        assert np.sign(np.median(diff)) == np.sign(p["contrast"])


def test_scratch_sizes_scale_with_width() -> None:
    # given the same seed at 256 and 512 px, then the scratch is twice as long and wide at 512 px
    a = generate_surface(np.random.default_rng(5), "scratch", 256)
    b = generate_surface(np.random.default_rng(5), "scratch", 512)
    assert _num(b.params)["length_px"] == pytest.approx(2 * _num(a.params)["length_px"])
    assert _num(b.params)["width_px"] == pytest.approx(2 * _num(a.params)["width_px"])


@pytest.mark.parametrize("size", [256, 512])
def test_pit_diameter_is_2_to_6_percent_of_width(size: int) -> None:
    # given pits, then the equivalent diameter of the mask is 2-6% of the width and the pit is dark
    for seed in range(10):
        ok, bad = _pair(seed, "pit", size, CLEAN)
        diameter = math.sqrt(4 * bad.mask.sum() / math.pi)
        assert 0.02 * size * 0.85 <= diameter <= 0.06 * size * 1.1, (seed, diameter)
        assert _num(bad.params)["diameter_px"] == pytest.approx(diameter, rel=0.25)
        assert np.median(_diff(ok, bad)[bad.mask]) < -20


def test_crack_is_dark_jagged_and_10_to_40_percent_long() -> None:
    # given cracks, then they are dark, span 10-40% of the width and are not straight lines
    for seed in range(10):
        ok, bad = _pair(seed, "crack", 256, CLEAN)
        assert 0.10 * 256 <= _num(bad.params)["span_px"] <= 0.40 * 256
        assert np.median(_diff(ok, bad)[bad.mask]) < -10
        ys, xs = np.nonzero(bad.mask)
        pts = np.stack([xs, ys], 1).astype(np.float64)
        centred = pts - pts.mean(0)
        normal = np.linalg.svd(centred, full_matrices=False)[2][1]
        across = centred @ normal
        # a jagged path wanders across its main direction far more than a straight 1-3 px line would
        spread = across.max() - across.min()
        assert spread >= max(4.0, 0.08 * _num(bad.params)["span_px"]), (seed, spread)


def test_stain_contrast_is_12_to_40_and_size_8_to_25_percent() -> None:
    # given clean stains, then the peak contrast is 12-40 grey levels and the size 8-25% of the width
    for seed in range(10):
        ok, bad = _pair(seed, "stain", 256, CLEAN)
        p = _num(bad.params)
        assert 12 <= abs(p["contrast"]) <= 40
        diff = _diff(ok, bad)[bad.mask]
        peak = np.percentile(np.abs(diff), 99)
        assert 12 * 0.8 <= peak <= 40 + 3, (seed, peak)
        diameter = math.sqrt(4 * bad.mask.sum() / math.pi)
        assert 0.08 * 256 * 0.8 <= diameter <= 0.25 * 256 * 1.2, (seed, diameter)


def test_mean_grey_stays_in_range() -> None:
    # given defect-free surfaces over the whole domain, then the mean grey is within 80-180
    for seed in range(20):
        sample = generate_surface(np.random.default_rng(seed), "ok", 256)
        assert 80 - 4 <= sample.image.mean() <= 180 + 4, sample.image.mean()
        assert 80 <= _num(sample.params)["mean_grey"] <= 180


def test_benign_parameters_cover_the_spec() -> None:
    # given a batch, then every benign parameter is inside the spec range
    for sample in generate_batch(11, 4):
        p = _num(sample.params)
        assert 0 <= p["gradient"] <= 0.25
        assert 0 <= p["noise_sigma"] <= 6
        assert 70 <= p["jpeg_quality"] <= 95
        assert abs(p["rotation_deg"]) <= 5


def test_illumination_gradient_reaches_25_percent() -> None:
    # given a strong gradient, then the frame is up to 25% brighter on one side than the mean
    domain = SurfaceDomain(
        mean_grey=(128.0, 128.0), gradient=(0.25, 0.25), noise_sigma=(0.0, 0.0), texture_sigma=(0.0, 0.0)
    )
    sample = generate_surface(np.random.default_rng(0), "ok", 256, domain)
    image = sample.image.astype(np.float64)
    assert image.max() == pytest.approx(128 * 1.25, abs=3)
    assert image.min() == pytest.approx(128 * 0.75, abs=3)


def test_brushed_texture_has_one_direction() -> None:
    # given a textured surface, then the image varies much less along the brush direction than across it
    domain = SurfaceDomain(noise_sigma=(0.0, 0.0), gradient=(0.0, 0.0), texture_sigma=(5.0, 5.0))
    sample = generate_surface(np.random.default_rng(4), "ok", 256, domain)
    image = sample.image.astype(np.float64)
    phi = math.radians(_num(sample.params)["brush_angle_deg"] + _num(sample.params)["rotation_deg"])
    step = np.array([math.cos(phi), math.sin(phi)]) * 3
    centre = image[64:192, 64:192]

    def shifted(dx: float, dy: float) -> np.ndarray:
        matrix = np.array([[1, 0, -dx], [0, 1, -dy]], np.float32)
        return cv2.warpAffine(image, matrix, (256, 256))[64:192, 64:192]

    along = np.abs(shifted(*step) - centre).mean()
    across = np.abs(shifted(-step[1], step[0]) - centre).mean()
    assert across > 2 * along, (along, across)


def test_jpeg_bytes_decode_to_the_image() -> None:
    # given a sample, when a gateway decodes its JPEG bytes, then it gets exactly `image`
    for sample in generate_batch(5, 1, sizes=(200,)):
        assert sample.jpeg[:2] == b"\xff\xd8"
        decoded = cv2.imdecode(np.frombuffer(sample.jpeg, np.uint8), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(decoded, sample.image)
        assert sample.image.dtype == np.uint8 and sample.image.ndim == 2


@pytest.mark.parametrize("size", [128, 129, 200, (128, 300), (480, 640), 1000])
def test_every_size_from_128_works(size: int | tuple[int, int]) -> None:
    # given any size >= 128 px (square or (height, width)), then every class renders at that size
    expected = (size, size) if isinstance(size, int) else size
    for label in CLASSES:
        sample = generate_surface(np.random.default_rng(1), label, size)
        assert sample.image.shape == expected
        assert sample.mask.shape == expected
        assert sample.mask.any() == (label != "ok")


@pytest.mark.parametrize(
    ("label", "size"), [("dent", 256), ("OK", 256), ("ok", 127), ("scratch", (256, 100)), ("pit", (1, 2, 3))]
)
def test_bad_arguments_raise_value_error(label: str, size: object) -> None:
    # given an unknown label or a size below 128 px, then generation refuses with ValueError
    with pytest.raises(ValueError):
        generate_surface(np.random.default_rng(0), label, size)  # type: ignore[arg-type]


def test_batch_rejects_small_sizes() -> None:
    # given a batch request with a size below the spec, then it raises before rendering anything
    with pytest.raises(ValueError):
        generate_batch(0, 1, sizes=(256, 64))

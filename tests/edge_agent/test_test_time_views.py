"""Test-time dihedral views: the views themselves, the averaged scores, the manifest rule and the shipped package."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from edge_agent.app import build_pipeline
from edge_agent.contracts import InputSpec, Manifest
from edge_agent.errors import InferenceError, InputShapeError
from edge_agent.pipelines.image_preprocess import dihedral_views
from edge_agent.pipelines.inspection import QualityInspector
from edge_agent.pipelines.postprocess import mean_over_views
from models.training.surfaces import generate_surface
from tests.builders import REPO

MODELS = REPO / "models"
KEYS = [MODELS / "keys" / "dev-signing.pub"]


def _asymmetric(side: int = 8) -> np.ndarray:
    return np.arange(side * side, dtype=np.uint8).reshape(side, side, 1)


def test_given_an_item_when_four_views_are_taken_then_they_are_the_identity_transpose_half_turn_and_anti_transpose():
    item = _asymmetric()
    views = dihedral_views(item, 4)
    assert np.array_equal(views[0], item)
    assert np.array_equal(views[1], item.transpose(1, 0, 2))
    assert np.array_equal(views[2], item[::-1, ::-1])
    assert np.array_equal(views[3], item.transpose(1, 0, 2)[::-1, ::-1])


@pytest.mark.parametrize("count", [2, 4, 8])
def test_given_a_view_count_then_the_views_are_distinct_and_closed_under_composition(count: int):
    item = _asymmetric()
    keys = {view.tobytes() for view in dihedral_views(item, count)}
    assert len(keys) == count
    # a group: every view of every view is again one of the views, so no direction is favoured
    for view in dihedral_views(item, count):
        assert {again.tobytes() for again in dihedral_views(np.ascontiguousarray(view), count)} == keys


def test_given_a_non_square_item_when_views_are_asked_then_it_is_an_input_shape_error():
    with pytest.raises(InputShapeError, match="square"):
        dihedral_views(np.zeros((4, 6, 1), np.uint8), 2)


def test_given_rows_of_views_when_averaged_then_each_item_gets_the_mean_of_its_own_views():
    rows = np.array([[0.9, 0.1], [0.7, 0.3], [0.2, 0.8], [0.4, 0.6]], np.float32)
    assert np.allclose(mean_over_views(rows, 2), [[0.8, 0.2], [0.3, 0.7]])
    assert np.allclose(mean_over_views(rows, 1), rows)
    with pytest.raises(InferenceError, match="views each"):
        mean_over_views(rows[:3], 2)


def _manifest_json(package: Path) -> dict:
    return json.loads((package / "manifest.json").read_text())


def test_given_views_on_a_feature_input_when_the_manifest_is_read_then_it_is_refused():
    spec = _manifest_json(MODELS / "bearing-health" / "1.2.0")["input"]
    with pytest.raises(ValidationError, match="square NHWC"):
        InputSpec.model_validate({**spec, "test_time_views": 4})


def test_given_a_manifest_without_views_when_written_again_then_its_json_is_unchanged():
    # packages signed before views existed must verify and re-serialise byte for byte
    raw = _manifest_json(MODELS / "surface-inspection" / "1.2.0")
    manifest = Manifest.model_validate(raw)
    assert manifest.input.test_time_views == 1
    assert "test_time_views" not in manifest.model_dump(mode="json")["input"]


@pytest.mark.parametrize("name", ["surface-inspection", "surface-inspection-onnx"])
def test_given_the_shipped_views_package_when_a_frame_is_inspected_then_scores_are_the_mean_over_its_views(name: str):
    pipeline = build_pipeline(MODELS / name / "1.3.0", KEYS)
    assert isinstance(pipeline, QualityInspector)
    manifest = pipeline.model.manifest
    assert manifest.input.test_time_views == 4
    item = pipeline.prepare(generate_surface(np.random.default_rng(3), "scratch", (300, 400)).image)
    outputs = pipeline.model.run(np.stack(dihedral_views(item, 4)))
    expected = outputs[0].mean(axis=0)  # the loaded model hands back real (dequantized) scores
    verdict = pipeline.infer([item])[0].result
    assert np.allclose([verdict.scores[label] for label in manifest.output.labels], expected, atol=1e-5)
    # and the single identity view alone is a different answer (the views are really run)
    single = pipeline.model.run(item[None])[0][0]
    assert not np.allclose(single, expected, atol=1e-4)

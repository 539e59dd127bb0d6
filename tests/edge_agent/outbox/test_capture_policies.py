"""Given one default capture policy and per-model overrides, each model's inputs are captured by its own rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edge_agent.config import load_config
from edge_agent.config_capture import CapturePolicy
from edge_agent.errors import ConfigError
from edge_agent.outbox.capture import HardExampleCapture
from tests.builders import inspection_result

CONFIG = """
version: 1
gateway: {id: gw-1, site: plant-a, line: line-2}
cameras:
  - {id: cam-top, model: surface-inspection}
  - {id: cam-side, model: surface-inspection-onnx}
assets:
  - id: pump-3
    model: bearing-health
    bearing: {balls: 9, ball_diameter_mm: 7.94, pitch_diameter_mm: 39.04, contact_angle_deg: 0}
    rpm: 1780
capture:
  audit_rate: 0.0
  max_per_hour: 100
  models:
    surface-inspection-onnx: {ng: false, low_margin: null, max_per_hour: 2}
    bearing-health: {labels: [outer_race], uncertain: false}
"""


def _inspection(i: int, model: str, verdict: str = "ok", margin: float = 0.9) -> dict[str, Any]:
    return inspection_result(i, verdict, margin, model=model, version="1.1.0")


def _health(i: int, state: str, anomaly: bool = False) -> dict[str, Any]:
    return {
        "ts_ms": 1000 + i,
        "state": state,
        "anomaly": anomaly,
        "scores": {state: 0.6},
        "margin": 0.5,
        "model": {"name": "bearing-health", "version": "1.1.0", "sha256": "y"},
    }


@pytest.fixture
def policy(tmp_path: Path) -> CapturePolicy:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    return load_config(path, environ={}).capture


def test_given_overrides_then_each_model_gets_the_default_with_only_its_own_keys_changed(policy: CapturePolicy) -> None:
    onnx, litert = policy.for_model("surface-inspection-onnx"), policy.for_model("surface-inspection")
    assert (onnx.ng, onnx.low_margin, onnx.max_per_hour, onnx.audit_rate) == (False, None, 2, 0.0)
    assert (litert.ng, litert.low_margin, litert.max_per_hour) == (True, 0.1, 100)


def test_given_two_cameras_when_the_same_results_arrive_then_only_the_default_policy_captures_them(
    policy: CapturePolicy,
) -> None:
    # Given the capture of a gateway whose ONNX camera captures neither ng nor low-margin inputs
    capture = HardExampleCapture(policy, seed=1)
    # When both cameras report an ng part and a low-margin ok part
    top = [
        capture.consider("cam-top", b"j", "image/jpeg", _inspection(i, "surface-inspection", v, m))
        for i, v, m in ((0, "ng", 0.9), (1, "ok", 0.05))
    ]
    side = [
        capture.consider("cam-side", b"j", "image/jpeg", _inspection(i, "surface-inspection-onnx", v, m))
        for i, v, m in ((2, "ng", 0.9), (3, "ok", 0.05))
    ]
    # Then the LiteRT camera's inputs are captured for their reasons and the ONNX camera's are not
    assert [r[0] if r else None for r in top] == ["ng", "low_margin"]
    assert side == [None, None]


def test_given_a_rare_state_in_labels_then_it_is_captured_and_uncertain_is_not(policy: CapturePolicy) -> None:
    # Given the maintenance model's policy: always outer_race, never uncertain, faults as by default
    capture = HardExampleCapture(policy, seed=1)
    # When a healthy, an uncertain and a faulty window come in
    outcomes = [
        capture.consider("pump-3", b"w", "application/json", _health(0, "healthy")),
        capture.consider("pump-3", b"w", "application/json", _health(1, "uncertain")),
        capture.consider("pump-3", b"w", "application/json", _health(2, "imbalance")),
    ]
    # Then only the fault is captured
    assert [o[0] if o else None for o in outcomes] == [None, None, "fault"]
    # and with fault captures off, a state listed in labels is still captured, for that reason
    healthy_only = HardExampleCapture(CapturePolicy(ng=False, audit_rate=0.0, labels=["outer_race"]), seed=1)
    sample = healthy_only.consider("pump-3", b"w", "application/json", _health(3, "outer_race"))
    assert sample is not None and sample[0] == "label"


def test_given_uncertain_results_then_the_default_policy_captures_them_as_uncertain() -> None:
    capture = HardExampleCapture(CapturePolicy(audit_rate=0.0), seed=1)
    sample = capture.consider("pump-3", b"w", "application/json", _health(0, "uncertain"))
    assert sample is not None and sample[0] == "uncertain" and sample[1]["reason"] == "uncertain"


def test_given_a_per_model_hourly_cap_then_one_model_hitting_it_leaves_the_other_capturing(
    policy: CapturePolicy,
) -> None:
    capture = HardExampleCapture(
        policy.model_copy(
            update={
                "models": {
                    "surface-inspection-onnx": policy.models["surface-inspection-onnx"].model_copy(update={"ng": True})
                }
            }
        ),
        seed=1,
    )
    side = [
        capture.consider("cam-side", b"j", "image/jpeg", _inspection(i, "surface-inspection-onnx", "ng"))
        for i in range(5)
    ]
    top = [
        capture.consider("cam-top", b"j", "image/jpeg", _inspection(i, "surface-inspection", "ng")) for i in range(5)
    ]
    assert sum(s is not None for s in side) == 2 and capture.capped == 3
    assert all(t is not None for t in top)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("    surface-inspektion: {ng: false}\n", "no camera or asset uses surface-inspektion"),
        ("    bearing-health: {audit_rate: 2}\n", "capture.models.bearing-health.audit_rate"),
        ("    bearing-health: {capture_all: true}\n", "capture_all"),
    ],
)
def test_given_a_bad_override_then_loading_fails_naming_it(tmp_path: Path, override: str, message: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.split("  models:\n")[0] + "  models:\n" + override)
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load_config(path, environ={})

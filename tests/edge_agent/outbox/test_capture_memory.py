"""Given inputs kept for late labels, the memory they hold per source stays within the configured bytes."""

from __future__ import annotations

from edge_agent.config_capture import CapturePolicy
from edge_agent.outbox.capture import HardExampleCapture
from tests.builders import inspection_result


def _feed(capture: HardExampleCapture, source: str, count: int, size: int, first: int = 0) -> None:
    for i in range(first, first + count):
        capture.consider(source, bytes(size), "image/jpeg", inspection_result(i))


def test_given_a_byte_limit_when_a_camera_sends_more_then_only_its_newest_inputs_are_kept_for_joins() -> None:
    capture = HardExampleCapture(CapturePolicy(audit_rate=0.0, recent_bytes_per_source=10_000), seed=1)

    _feed(capture, "cam-top", 30, 1_000)

    assert capture.recent_bytes() == 10_000
    assert capture.join_label("cam-top", "scratch", "P29", None) is not None  # the newest part still joins
    assert capture.join_label("cam-top", "scratch", "P20", None) is not None
    assert capture.join_label("cam-top", "scratch", "P19", None) is None  # pushed out by the limit


def test_given_two_sources_when_one_floods_then_the_other_keeps_its_inputs() -> None:
    capture = HardExampleCapture(CapturePolicy(audit_rate=0.0, recent_bytes_per_source=10_000), seed=1)
    _feed(capture, "cam-side", 3, 1_000, first=100)

    _feed(capture, "cam-top", 50, 2_000)

    assert capture.recent_bytes() == 10_000 + 3_000
    assert capture.join_label("cam-side", "scratch", "P100", None) is not None


def test_given_the_default_policy_when_many_small_inputs_arrive_then_the_count_limit_still_applies() -> None:
    capture = HardExampleCapture(CapturePolicy(audit_rate=0.0), recent_per_source=8, seed=1)

    _feed(capture, "cam-top", 20, 100)

    assert capture.recent_bytes() == 800
    assert capture.join_label("cam-top", "scratch", "P11", None) is None
    assert capture.join_label("cam-top", "scratch", "P12", None) is not None

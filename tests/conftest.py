"""Shared fixtures: a real mosquitto, the shipped model packages, agent configs and MQTT probes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_agent.demo.demo import demo_config
from edge_agent.demo.devbroker import DevBroker
from tests.sparkplug_venv import pysparkplug_python  # noqa: F401  (a shared fixture)

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "models"
KEYS = MODELS / "keys"


@pytest.fixture
def broker(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[DevBroker]:
    """A private mosquitto on a free port, with persistence in tmp_path (and a test's broker_config lines)."""
    workdir = tmp_path / "broker"
    workdir.mkdir()
    marker = request.node.get_closest_marker("broker_config")
    with DevBroker(workdir=workdir, extra_config=marker.args[0] if marker else "") as running:
        yield running


@pytest.fixture
def agent_config(broker: DevBroker, tmp_path: Path) -> dict[str, Any]:
    """The demo line's agent config pointed at the test broker and the shipped models."""
    document = demo_config(broker.port, tmp_path / "state", MODELS, KEYS, web_port=0)
    document["logging"] = {"level": "INFO"}
    return document

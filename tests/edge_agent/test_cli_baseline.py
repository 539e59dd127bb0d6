"""Given a gateway config, `edge-agent baseline` lists baselines and leaves reset/finish for the running agent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from edge_agent.baseline.manager import AssetPlan, BaselineManager
from edge_agent.baseline.store import BaselineStore
from edge_agent.cli import main
from edge_agent.config import load_config
from tests.conftest import REPO


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    document = {
        "version": 1,
        "gateway": {"id": "gw-1", "site": "p", "line": "l"},
        "assets": [{"id": "pump-1", "rpm": 1780}, {"id": "fan-1", "rpm": 990, "baseline": {"enabled": False}}],
        "models": {"dir": str(tmp_path / "models"), "maintenance": "bearing-health"},
        "store": {"path": str(tmp_path / "state" / "agent.db")},
        "baseline": {"windows": 40, "min_windows": 10},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def _manager(config_path: Path, events: list[tuple[str, dict[str, Any]]]) -> BaselineManager:
    config = load_config(config_path, environ={})
    plans = {a.id: AssetPlan("bearing-health", config.baseline_for(a.id)) for a in config.assets}
    return BaselineManager(
        BaselineStore(config.baseline_dir()),
        plans,
        emit=lambda event_type, **detail: events.append((event_type, detail)),
        upstream=lambda stream, priority, doc: None,
        count=lambda kind, asset: None,
    )


def test_given_the_example_config_then_check_config_accepts_its_baseline_keys(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["check-config", str(REPO / "firmware-config" / "config.example.yaml")]) == 0
    assert "OK" in capsys.readouterr().out


def test_given_no_running_agent_when_a_reset_is_asked_then_the_next_start_applies_it(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    _manager(config_path, events).start()  # an agent ran once: pump-1 commissioning, fan-1 off
    # when an operator lists, then asks for a reset without an agent to apply it
    assert main(["baseline", "list", "--config", str(config_path)]) == 0
    listed = capsys.readouterr().out
    assert "pump-1  commissioning  0/40 windows" in listed and "fan-1  off" in listed
    assert main(["baseline", "reset", "pump-1", "--config", str(config_path), "--wait", "0", "--by", "ann"]) == 0
    assert "requested; the running agent applies it within 2 s" in capsys.readouterr().out
    main(["baseline", "list", "--config", str(config_path)])
    assert "(reset requested)" in capsys.readouterr().out
    # then the agent's next start applies it and names who asked
    _manager(config_path, events).start()
    assert ("baseline_reset", {"asset": "pump-1", "by": "cli:ann", "was": "commissioning"}) in events
    main(["baseline", "list", "--config", str(config_path)])
    assert "requested" not in capsys.readouterr().out


def test_given_a_running_agent_when_finish_is_asked_too_early_then_the_agent_refuses_it_with_an_event(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    manager = _manager(config_path, events)
    manager.start()
    assert main(["baseline", "finish", "pump-1", "--config", str(config_path), "--wait", "0"]) == 0
    manager.poll_requests()  # what the agent's main loop does every second
    kind, detail = events[-1]
    assert kind == "baseline_request_refused" and "finishing needs at least 10" in detail["reason"]
    # and an unknown asset is refused by the CLI itself
    assert main(["baseline", "reset", "pump-9", "--config", str(config_path)]) == 2
    assert "configured assets: pump-1, fan-1" in capsys.readouterr().err

"""Given per-asset baselines, the status page shows them, an operator resets or finishes one, /metrics counts them."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient

from edge_agent.baseline.manager import AssetPlan, BaselineManager
from edge_agent.baseline.store import BaselineStore
from edge_agent.config import BaselineTuning
from edge_agent.web.baselines import BaselineRejected, baseline_infos, run_action
from tests.edge_agent.web.conftest import page_csrf
from tests.edge_agent.web.fakes import FakeView
from tests.edge_agent.web.test_metrics import scrape, value


def test_given_baselines_when_the_page_polls_then_each_asset_shows_its_state_progress_and_levels(
    local_client: FlaskClient,
) -> None:
    html = local_client.get("/").get_data(as_text=True)
    assert 'id="baselines"' in html and "Asset baselines" in html
    rows = {row["asset"]: row for row in local_client.get("/api/v1/status").get_json()["baselines"]}
    assert rows["fan-1"]["status"] == "commissioning" and rows["fan-1"]["progress"] == [12, 200]
    pump = rows["pump-1"]
    assert pump["status"] == "learned" and pump["iso_zone"] == "A" and pump["levels"]["velocity_rms_mm_s"] == 1.84


def test_given_the_page_token_when_an_operator_resets_a_baseline_then_it_applies_and_a_forged_post_does_not(
    local_client: FlaskClient, view: FakeView
) -> None:
    # when the reset is posted without the page's CSRF token, then it is refused and nothing happens
    assert local_client.post("/api/v1/baselines/pump-1/reset", json={"operator": "ann"}).status_code == 403
    assert view.baseline_actions == []
    # when it is posted as the page does
    headers = {"X-CSRF-Token": page_csrf(local_client)}
    response = local_client.post("/api/v1/baselines/pump-1/reset", json={"operator": "ann"}, headers=headers)
    # then the asset commissions again
    assert response.status_code == 200 and response.get_json()["outcome"] == "commissioning again (was learned)"
    assert view.baseline_actions == [("pump-1", "reset", "ann")]
    status = local_client.get("/api/v1/status").get_json()
    assert next(b for b in status["baselines"] if b["asset"] == "pump-1")["status"] == "commissioning"
    # and finishing with too few windows, or an unknown asset, is refused with a reason
    refused = local_client.post("/api/v1/baselines/fan-1/finish", json={}, headers=headers)
    assert refused.status_code == 409 and "too few windows" in refused.get_json()["error"]
    assert local_client.post("/api/v1/baselines/nope/reset", json={}, headers=headers).status_code == 404


def test_given_baselines_when_scraped_then_each_asset_has_one_state_series_set(local_client: FlaskClient) -> None:
    families = scrape(local_client)
    states = families["edge_agent_baseline_state"]
    assert value(states, "edge_agent_baseline_state", asset="pump-1", state="learned") == 1.0
    assert value(states, "edge_agent_baseline_state", asset="pump-1", state="commissioning") == 0.0
    windows = families["edge_agent_baseline_commissioning_windows"]
    assert value(windows, "edge_agent_baseline_commissioning_windows", asset="fan-1") == 12.0
    assert "edge_agent_health_uncertain" in families and "edge_agent_baseline_changed_states" in families


def test_given_a_real_manager_then_the_page_reads_it_and_relays_operator_commands(tmp_path: Path) -> None:
    events: list[str] = []
    manager = BaselineManager(
        BaselineStore(tmp_path),
        {"pump-1": AssetPlan("bearing-health", BaselineTuning(windows=10, min_windows=5))},
        emit=lambda event_type, **detail: events.append(event_type),
        upstream=lambda stream, priority, doc: None,
        count=lambda kind, asset: None,
    )
    manager.start()
    [info] = baseline_infos(manager)
    assert (info.asset, info.status, info.progress, info.min_windows) == ("pump-1", "commissioning", [0, 10], 5)
    with pytest.raises(BaselineRejected, match="0 windows; finishing needs at least 5"):
        run_action(manager, "pump-1", "finish", "ann")
    assert run_action(manager, "pump-1", "reset", "ann") == "commissioning again (was commissioning)"
    assert events == ["baseline_reset"]
    with pytest.raises(BaselineRejected, match="unknown baseline action"):
        run_action(manager, "pump-1", "delete", "ann")
    assert baseline_infos(None) == []

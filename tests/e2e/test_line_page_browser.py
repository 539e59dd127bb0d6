"""Given an agent with a line, when an operator opens the status page in headless Chromium, then every unit shows
its loss waterfall and OEE trend, offline (server-side SVG) and without a console error."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from edge_agent.config_line import LineConfig
from edge_agent.ingest.tags import TagUpdate
from edge_agent.line.engine import LineEngine
from edge_agent.line.persist import LineStateFile
from edge_agent.line.tracker import LineTracker
from edge_agent.web import ServerHandle, WebSettings, create_app, serve_in_thread
from edge_agent.web.line import line_blueprint
from tests.e2e.test_status_page_browser import browser, loaded, open_page, wait  # noqa: F401  (browser: a fixture)
from tests.edge_agent.web.fakes import FakeView


@pytest.fixture
def line_page(tmp_path: Path) -> Iterator[ServerHandle]:
    """The status page with a line of two units that ran (and stopped) for the last two hours."""
    config = LineConfig.model_validate(
        {
            "units": [
                {"id": unit, "state_tag": f"{unit}/state", "states": {"1": "running", "5": "fault"},
                 "counters": {"total": f"{unit}/total"}, "ideal_cycle_s": {"default": 5.0}}
                for unit in ("press-1", "weld-2")
            ]
        }
    )  # fmt: skip
    tracker = LineTracker(config, emit=lambda kind, **detail: None)
    start = int((time.time() - 7200) * 1000)
    for minute in range(120):
        for n, unit in enumerate(tracker.units):
            ts = start + minute * 60_000
            tracker.tag(TagUpdate(unit, "state", 5 if minute % (20 + n) == 0 else 1, ts))
            tracker.tag(TagUpdate(unit, "total", minute * (10 - n), ts))
    engine = LineEngine(config, "ns", tracker, LineStateFile(tmp_path / "line.json"), lambda t, p: None, print)
    engine.tick()
    app = create_app(
        FakeView(gateway="line-1-gw"), WebSettings(refresh_s=0.5), environ={}, blueprints=[line_blueprint(engine)]
    )
    handle = serve_in_thread(app, "127.0.0.1", 0)
    yield handle
    handle.stop()


def test_each_unit_shows_a_waterfall_and_a_trend(browser: webdriver.Chrome, line_page: ServerHandle) -> None:  # noqa: F811
    # when an operator opens the page
    open_page(browser, line_page)
    # then the line section shows two charts per unit and for the line, all loaded
    charts = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#line img.chart"), "no line charts")
    assert len(charts) == 6
    wait(browser, lambda d: all(loaded(d, c) for c in charts), "line charts did not load")
    assert browser.find_element(By.ID, "line-section").is_displayed()
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []

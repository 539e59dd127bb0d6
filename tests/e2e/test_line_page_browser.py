"""Given an agent with a line, when an operator opens the status page in headless Chromium, then every unit shows
its loss waterfall and OEE trend, offline (server-side SVG) and without a console error, and the cycle-time model's
table names what it found."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from edge_agent.config_line import LineConfig
from edge_agent.ingest.tags import TagUpdate
from edge_agent.line.cycle_model import CycleModel
from edge_agent.line.cycle_monitor import CycleMonitor
from edge_agent.line.engine import LineEngine
from edge_agent.line.persist import LineStateFile
from edge_agent.line.tracker import LineTracker
from edge_agent.loading import load_model
from edge_agent.signing import TrustedKeys
from edge_agent.web import ServerHandle, WebSettings, create_app, serve_in_thread
from edge_agent.web.line import line_blueprint
from tests.conftest import KEYS, MODELS
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


@pytest.fixture
def cycle_page(tmp_path: Path) -> Iterator[ServerHandle]:
    """The status page of a press judged by the shipped cycle-time model: 4.4 s cycles, one 10 s hidden stop."""
    config = LineConfig.model_validate(
        {
            "units": [{"id": "press-1", "state_tag": "press-1/state", "states": {"1": "running"},
                       "counters": {"total": "press-1/total"}, "product_tag": "press-1/product",
                       "ideal_cycle_s": {"default": 4.0}}],
            "cycles": {},
        }
    )  # fmt: skip
    tracker = LineTracker(config, emit=lambda kind, **detail: None)
    model = CycleModel(load_model(MODELS / "cycle-time" / "1.0.0", TrustedKeys.from_paths([KEYS])))
    monitor = CycleMonitor(config, "ns", tracker, lambda: model, lambda t, p: None, lambda s, k, d: None)
    start = int((time.time() - 600) * 1000)
    tracker.tag(TagUpdate("press-1", "product", "A", start))
    tracker.tag(TagUpdate("press-1", "state", 1, start))
    ts = start
    for n in range(60):
        ts += 4400 + (10_000 if n == 40 else 0)
        tracker.tag(TagUpdate("press-1", "total", n, ts))
    tracker.tag(TagUpdate("press-1", "state", 1, ts + 1000))
    engine = LineEngine(
        config, "ns", tracker, LineStateFile(tmp_path / "line.json"), lambda t, p: None, print, cycles=monitor
    )
    engine.tick()
    app = create_app(
        FakeView(gateway="line-1-gw"), WebSettings(refresh_s=0.5), environ={}, blueprints=[line_blueprint(engine)]
    )
    handle = serve_in_thread(app, "127.0.0.1", 0)
    yield handle
    handle.stop()


def test_the_cycle_time_model_table_names_the_hidden_micro_stop(
    browser: webdriver.Chrome,  # noqa: F811
    cycle_page: ServerHandle,
) -> None:
    browser.get("about:blank")  # the previous test's page polled its stopped server: not this page's errors
    browser.get_log("browser")
    # when an operator opens the page
    open_page(browser, cycle_page)
    # then the cycle-time table shows the press, its model version, its counts and the stop in words
    rows = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#line-cycles tbody tr"), "no cycle-time rows")
    cells = [c.text for c in rows[0].find_elements(By.TAG_NAME, "td")]
    assert cells[:2] == ["press-1", "1.0.0"] and cells[4] == "1"
    assert cells[7].startswith("press-1: cycle took 14.4 s, 10.0 s longer than expected (4.4 s) for product A")
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []

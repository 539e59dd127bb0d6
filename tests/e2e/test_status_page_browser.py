"""Given the status page served by waitress and a real headless Chromium, an operator sees it live and labels parts."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from edge_agent.web import ServerHandle, WebSettings, create_app, serve_in_thread
from edge_agent.web.settings import Credentials
from models.training.surfaces import generate_surface
from tests.edge_agent.web.fakes import FakeView

CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
WAIT_S = 10
PASSWORD = "line-1-status-page"


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    """Headless Debian Chromium; a missing or broken browser fails the test, it is never skipped."""
    binary, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if binary is None or driver_path is None:
        pytest.fail(
            "headless Chromium is required: install the Debian packages `chromium` and `chromium-driver` "
            f"(found chromium={binary}, chromedriver={driver_path})",
            pytrace=False,
        )
    profile = tempfile.TemporaryDirectory(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in (*CHROMIUM_ARGS, f"--user-data-dir={profile.name}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    except WebDriverException as exc:
        profile.cleanup()
        pytest.fail(f"headless Chromium ({binary}, {driver_path}) could not start: {exc.msg}", pytrace=False)
    driver.set_page_load_timeout(WAIT_S)
    yield driver
    driver.quit()
    profile.cleanup()


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[FakeView, ServerHandle]]:
    """The real app over a fake view whose figures move, served by waitress on a free loopback port."""
    view = FakeView(gateway="line-1-gw")
    handle = serve_in_thread(create_app(view, WebSettings(refresh_s=0.5), environ={}), "127.0.0.1", 0)
    yield view, handle
    handle.stop()


def wait(driver: WebDriver, condition: Any, message: str) -> Any:
    # the page re-renders every refresh: an element read mid-render is stale, so that poll simply retries
    return WebDriverWait(
        driver, WAIT_S, poll_frequency=0.1, ignored_exceptions=(StaleElementReferenceException,)
    ).until(condition, message)


def loaded(driver: WebDriver, image: WebElement) -> bool:
    return bool(driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", image))


def open_page(driver: WebDriver, handle: ServerHandle) -> None:
    driver.get(handle.url + "/")
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#streams tbody tr"), "the page never filled in")


def test_the_page_loads_and_its_numbers_move(browser: webdriver.Chrome, served: tuple[FakeView, ServerHandle]) -> None:
    _, handle = served
    # when an operator opens the page
    open_page(browser, handle)
    # then models, broker state and health charts are shown, without a single console error (CSP included)
    assert "line-1-gw" in browser.title
    assert "surface-inspection" in browser.find_element(By.ID, "models").text
    assert browser.find_element(By.ID, "broker").text == "broker connected"
    assert "rejected" in browser.find_element(By.ID, "ota").text
    assert "sample 3" in browser.find_element(By.ID, "outbox").text
    assert len(browser.find_elements(By.CSS_SELECTOR, "#health img.chart")) == 2
    wait(
        browser,
        lambda d: all(loaded(d, c) for c in d.find_elements(By.CSS_SELECTOR, "#health img.chart")),
        "health charts did not load",
    )
    # and the live figures change between two reads
    first = wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#streams tbody tr").text, "no figures")
    wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#streams tbody tr").text != first, "figures froze")
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []


def test_a_new_inspection_appears_with_its_thumbnail(
    browser: webdriver.Chrome, served: tuple[FakeView, ServerHandle]
) -> None:
    view, handle = served
    open_page(browser, handle)
    # when the agent inspects a scratched part, and a part whose label looks like markup
    frame = generate_surface(np.random.default_rng(21), "scratch", 256).image
    ng = view.add_inspection("cam-1", "part-0001", "ng", "scratch", frame)
    odd = view.add_inspection("cam-2", "part-0002", "ok", "<img src=x onerror=alert(1)>")
    # then its card appears, red, with a loaded thumbnail and the highlight explained
    card = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f'.card[data-id="{ng.id}"]'), "no new card")[0]
    assert "verdict-ng" in card.get_attribute("class")
    thumb = card.find_element(By.CSS_SELECTOR, "img.thumb")
    wait(browser, lambda d: loaded(d, thumb), "thumbnail did not load")
    assert card.find_element(By.CSS_SELECTOR, ".note").text == "highlight: local contrast"
    # and text is only ever text
    other = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f'.card[data-id="{odd.id}"]'), "no card")[0]
    assert "<img src=x onerror=alert(1)>" in other.text
    assert other.find_elements(By.CSS_SELECTOR, "img") == []


def test_an_operator_corrects_a_verdict(browser: webdriver.Chrome, served: tuple[FakeView, ServerHandle]) -> None:
    view, handle = served
    open_page(browser, handle)
    operator = browser.find_element(By.ID, "operator")
    operator.clear()
    operator.send_keys("Ana")
    item = view.add_inspection(
        "cam-1", "part-0100", "ng", "scratch", generate_surface(np.random.default_rng(5), "crack").image
    )
    card = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f'.card[data-id="{item.id}"]'), "no card")[0]
    # when she picks the right class and presses the button
    Select(card.find_element(By.TAG_NAME, "select")).select_by_value("crack")
    button = card.find_element(By.CSS_SELECTOR, "button.label-button")
    assert button.text == "Correct"
    button.click()
    # then the page confirms it and the agent received her label
    status = card.find_element(By.CSS_SELECTOR, ".label-status")
    wait(browser, lambda d: status.text == "labelled crack", f"label not confirmed: {status.text!r}")
    assert ("cam-1", "part-0100", "crack", "Ana") in view.labels


def test_off_loopback_the_browser_logs_in_and_out(browser: webdriver.Chrome) -> None:
    # given the page configured for the plant network (served on loopback here, but in login mode)
    from werkzeug.security import generate_password_hash

    settings = WebSettings(host="0.0.0.0", refresh_s=0.5)
    credentials = Credentials(generate_password_hash(PASSWORD, "pbkdf2:sha256:1000"), b"k" * 32, None)
    handle = serve_in_thread(create_app(FakeView(), settings, credentials=credentials), "127.0.0.1", 0)
    try:
        # when an operator opens it, then the login form comes first
        browser.get(handle.url + "/")
        assert "/login" in browser.current_url
        # a wrong password is refused with a message
        browser.find_element(By.NAME, "password").send_keys("guess")
        browser.find_element(By.CSS_SELECTOR, "form button").click()
        error = wait(browser, lambda d: d.find_elements(By.ID, "login-error"), "no login error shown")[0]
        assert error.text == "Wrong password."
        # the right one opens the live page
        browser.find_element(By.NAME, "password").send_keys(PASSWORD)
        browser.find_element(By.CSS_SELECTOR, "form button").click()
        wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#streams tbody tr"), "page did not open after login")
        # and logging out ends it
        browser.find_element(By.XPATH, "//button[text()='Log out']").click()
        wait(browser, lambda d: "/login" in d.current_url, "logout did not return to the login form")
        browser.get(handle.url + "/")
        assert "/login" in browser.current_url
    finally:
        handle.stop()

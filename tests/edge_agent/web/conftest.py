"""Fixtures for the web tests: a fake view, a controllable clock, apps bound to loopback or the LAN."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash

from edge_agent.web import WebSettings, create_app
from edge_agent.web.settings import Credentials
from tests.edge_agent.web.fakes import FakeView

PASSWORD = "correct horse battery staple"
# pbkdf2 with few rounds keeps the tests fast; production hashes come from `python -m edge_agent.web` (scrypt)
PASSWORD_HASH = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
SECRET_KEY = b"k" * 16 + b"0123456789abcdef"
METRICS_TOKEN = "scrape-token-0123456789abcdef"
CSRF_META = re.compile(r'name="csrf-token" content="([^"]+)"')
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def view() -> FakeView:
    return FakeView()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_app(view: FakeView, clock: Clock) -> Callable[..., Flask]:
    """An app over the fake view; keyword arguments go to WebSettings."""

    def build(**settings: object) -> Flask:
        web = WebSettings.model_validate(settings)
        creds = Credentials(PASSWORD_HASH if web.login_required else None, SECRET_KEY, METRICS_TOKEN)
        app = create_app(view, web, credentials=creds, clock=clock)
        app.testing = True
        return app

    return build


@pytest.fixture
def local_client(make_app: Callable[..., Flask]) -> FlaskClient:
    """A client of an app bound to loopback (no login)."""
    return make_app().test_client()


@pytest.fixture
def lan_client(make_app: Callable[..., Flask]) -> FlaskClient:
    """A client of an app bound to every interface (login required)."""
    return make_app(host="0.0.0.0").test_client()


def page_csrf(client: FlaskClient, path: str = "/") -> str:
    """The CSRF token a page hands to its scripts or forms."""
    html = client.get(path).get_data(as_text=True)
    match = CSRF_META.search(html) or CSRF_FIELD.search(html)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def log_in(client: FlaskClient, password: str = PASSWORD, address: str = "10.0.0.5") -> int:
    """Post the login form like a browser; returns the status code."""
    token = page_csrf(client, "/login")
    response = client.post(
        "/login", data={"password": password, "csrf_token": token, "next": "/"}, environ_base={"REMOTE_ADDR": address}
    )
    return response.status_code

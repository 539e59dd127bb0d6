"""Given the status page bound to the plant network, only someone with the password sees or changes anything."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from edge_agent.errors import ConfigError
from edge_agent.web import WebSettings, create_app
from edge_agent.web.settings import is_loopback
from tests.edge_agent.web.conftest import (
    METRICS_TOKEN,
    PASSWORD,
    PASSWORD_HASH,
    SECRET_KEY,
    Clock,
    log_in,
    page_csrf,
)
from tests.edge_agent.web.fakes import SECRET_SIGNATURE, SECRET_TOKEN, FakeView


def test_off_loopback_every_page_and_api_needs_a_login(lan_client: FlaskClient) -> None:
    # when a visitor without a login opens the page or the API
    page = lan_client.get("/")
    # then the page sends them to the login form and the API says 401
    assert page.status_code == 302 and page.headers["Location"].startswith("/login")
    for path in ("/api/v1/status", "/api/v1/inspections", "/api/v1/health/pump-1", "/api/v1/thumbnails/1.jpg"):
        response = lan_client.get(path)
        assert (response.status_code, response.get_json()) == (401, {"error": "login required"}), path
    # but the probes a supervisor uses stay open
    assert lan_client.get("/livez").status_code == 200
    assert lan_client.get("/readyz").status_code == 200


def test_with_the_password_the_page_and_api_open(lan_client: FlaskClient) -> None:
    assert log_in(lan_client) == 302
    assert lan_client.get("/").status_code == 200
    assert lan_client.get("/api/v1/status").status_code == 200


def test_login_form_needs_its_csrf_token_and_never_redirects_off_site(lan_client: FlaskClient) -> None:
    assert lan_client.post("/login", data={"password": PASSWORD}).status_code == 403
    token = page_csrf(lan_client, "/login")
    response = lan_client.post("/login", data={"password": PASSWORD, "csrf_token": token, "next": "//evil.example/x"})
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_a_same_origin_form_post_is_accepted(lan_client: FlaskClient) -> None:
    # browsers send Origin on form posts; the page's own origin must pass (the referrer policy keeps it non-null)
    token = page_csrf(lan_client, "/login")
    data = {"password": PASSWORD, "csrf_token": token}
    assert lan_client.post("/login", data=data, headers={"Origin": "http://localhost"}).status_code == 302
    assert lan_client.get("/").headers["Referrer-Policy"] == "same-origin"


def test_label_posts_need_a_login_as_well_as_csrf(lan_client: FlaskClient, view: FakeView) -> None:
    token = page_csrf(lan_client, "/login")
    body = {"camera": "cam-1", "part_id": "p1", "label": "ok"}
    assert lan_client.post("/api/v1/labels", json=body, headers={"X-CSRF-Token": token}).status_code == 401
    log_in(lan_client)
    token = page_csrf(lan_client)  # a login starts a new session with a new token
    assert lan_client.post("/api/v1/labels", json=body, headers={"X-CSRF-Token": token}).status_code == 200
    assert view.labels == [("cam-1", "p1", "ok", "operator")]


def test_an_idle_session_expires_and_polling_does_not_keep_it_alive(lan_client: FlaskClient, clock: Clock) -> None:
    # given a login with the default 15 minute idle timeout
    log_in(lan_client)
    poll = {"X-Auto-Refresh": "1"}
    # when only the page's poller asks for ten minutes, then twenty
    clock.advance(600)
    assert lan_client.get("/api/v1/status", headers=poll).status_code == 200
    clock.advance(600)
    # then the login has expired: nobody touched the page for twenty minutes
    assert lan_client.get("/api/v1/status", headers=poll).status_code == 401
    assert lan_client.get("/").status_code == 302


def test_a_person_using_the_page_keeps_the_session_until_the_absolute_limit(
    make_app: Callable[..., Flask], clock: Clock
) -> None:
    client = make_app(host="0.0.0.0", session_idle_s=600, session_max_s=3600).test_client()
    log_in(client)
    for _ in range(6):  # 59 minutes of activity, under ten minutes apart
        clock.advance(590)
        assert client.get("/api/v1/status").status_code == 200
    clock.advance(590)  # past the hour: logged out however active
    assert client.get("/api/v1/status").status_code == 401


def test_repeated_failures_lock_out_the_address_for_a_while(lan_client: FlaskClient, clock: Clock) -> None:
    # when one address fails five times
    codes = [log_in(lan_client, "wrong", "10.0.0.9") for _ in range(5)]
    # then the fifth locks it out, and even the right password is refused while locked
    assert codes == [401, 401, 401, 401, 429]
    assert log_in(lan_client, PASSWORD, "10.0.0.9") == 429
    # other addresses are not affected
    assert log_in(lan_client, PASSWORD, "10.0.0.10") == 302
    # after the lockout the right password works again
    clock.advance(301)
    assert log_in(lan_client, PASSWORD, "10.0.0.9") == 302


def test_metrics_off_loopback_need_the_scrape_token_or_a_login(lan_client: FlaskClient) -> None:
    assert lan_client.get("/metrics").status_code == 401
    bad = lan_client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    good = lan_client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert good.status_code == 200 and b"edge_agent_build_info" in good.data
    # the token opens /metrics only
    assert lan_client.get("/api/v1/status", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).status_code == 401


def test_no_response_ever_contains_a_secret(lan_client: FlaskClient, view: FakeView) -> None:
    # given a page holding a password hash, a session key and a scrape token, and OTA history quoting secrets
    secrets = [
        PASSWORD,
        PASSWORD_HASH,
        PASSWORD_HASH.split("$")[1],  # the salt
        PASSWORD_HASH.split("$")[2],  # the digest
        METRICS_TOKEN,
        SECRET_KEY.decode(),
        SECRET_KEY.hex(),
        base64.b64encode(SECRET_KEY).decode(),
        SECRET_SIGNATURE,
        SECRET_TOKEN,
    ]
    responses = [lan_client.get("/login"), lan_client.get("/api/v1/status"), lan_client.get("/metrics")]
    responses.append(
        lan_client.post("/login", data={"password": "wrong", "csrf_token": page_csrf(lan_client, "/login")})
    )
    log_in(lan_client)
    for path in (
        "/",
        "/api/v1/status",
        "/api/v1/inspections",
        "/api/v1/health/pump-1",
        "/api/v1/health/pump-1/chart.svg",
        "/metrics",
        "/livez",
        "/readyz",
        "/api/v1/nothing",
        "/nothing",
    ):
        responses.append(lan_client.get(path))
    responses.append(lan_client.post("/api/v1/labels", json={"camera": "x"}, headers={"X-CSRF-Token": "bad"}))
    # when every response is searched, body and headers, then none of the secrets is there
    for response in responses:
        text = response.get_data(as_text=True) + str(response.headers)
        for secret in secrets:
            assert secret not in text, f"{response.request.path} leaks {secret[:12]}…"
    # and the OTA reason is still useful without its query string
    reasons = [entry.get("reason") for entry in lan_client.get("/api/v1/status").get_json()["ota_history"]]
    assert "download failed: https://cloud.example/a.tar?… timed out" in reasons


def test_serving_off_loopback_without_a_password_is_refused_at_start(view: FakeView) -> None:
    with pytest.raises(ConfigError, match="login is required"):
        create_app(view, WebSettings(host="0.0.0.0"), environ={})


def test_password_hash_and_session_key_can_come_from_the_credentials_directory(tmp_path, view: FakeView) -> None:
    (tmp_path / "web-password").write_text(PASSWORD_HASH + "\n")
    (tmp_path / "web-key").write_text("s" * 40)
    settings = WebSettings(host="0.0.0.0", password_hash_file="web-password", secret_key_file="web-key")
    client = create_app(view, settings, environ={"CREDENTIALS_DIRECTORY": str(tmp_path)}).test_client()
    assert log_in(client) == 302
    with pytest.raises(ConfigError, match="web.secret_key_file"):
        create_app(view, WebSettings(secret_key_file=tmp_path / "missing"), environ={})
    with pytest.raises(ValueError, match="scrypt or pbkdf2"):
        WebSettings(password_hash="plaintext")


def test_which_addresses_count_as_loopback() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.8.9.1", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.10", "gateway.local"))


def test_every_web_config_key_is_a_web_setting() -> None:
    # app.py builds WebSettings from the config's `web:` section, so a key only one of them knows is a bug
    from edge_agent.config import WebConfig

    assert set(WebConfig.model_fields) <= set(WebSettings.model_fields)
    assert WebSettings.model_validate(WebConfig().model_dump()).host == "127.0.0.1"

"""The fleet page: behind the admin token, shows devices, versions, wave progress and failure reasons, escaped."""

from __future__ import annotations

import base64
from pathlib import Path

from flask.testing import FlaskClient

from tests.cloud_sync.helpers import ADMIN, ADMIN_TOKEN, add_devices, bearer, report, start_rollout
from tests.cloud_sync.pkgtools import make_package, tar_dir

BROWSER = {"Authorization": "Basic " + base64.b64encode(f"admin:{ADMIN_TOKEN}".encode()).decode()}


def test_the_page_asks_a_browser_for_the_admin_token(client: FlaskClient) -> None:
    # given a browser without credentials, then it gets a Basic login challenge
    answer = client.get("/")
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Basic")


def test_the_page_refuses_device_tokens(client: FlaskClient) -> None:
    # given a device token, then the fleet page is forbidden
    token = add_devices(client, 1)["gw-00"]
    assert client.get("/", headers=bearer(token)).status_code == 403


def test_the_page_shows_devices_rollout_progress_and_failure_reasons(
    client: FlaskClient, published: Path, tmp_path: Path
) -> None:
    # given three gateways on 1.0.0, a rollout of 1.1.0 whose canary failed with a hostile-looking reason
    newer = make_package(tmp_path / "newer", "1.1.0")
    assert client.post("/api/v1/models", data=tar_dir(newer), headers=ADMIN).status_code == 201
    tokens = add_devices(client, 3)
    for device, token in tokens.items():
        report(client, device, token, "committed", version="1.0.0")
    start_rollout(client, canary_percent=10, wave_percent=50)
    reason = "selftest: <script>alert(1)</script> output off by 0.4"
    report(client, "gw-00", tokens["gw-00"], "rejected", reason=reason)
    # when an admin opens the page in a browser
    answer = client.get("/", headers=BROWSER)
    html = answer.get_data(as_text=True)
    # then it lists the devices with their versions and the rollout's waves
    assert answer.status_code == 200 and answer.mimetype == "text/html"
    for device in tokens:
        assert device in html
    assert "line-qi 1.0.0" in html
    assert "canary" in html and "0/1 committed" in html and "1 failed" in html
    assert "paused" in html
    # and the failure reason, escaped, never as markup
    assert "selftest: &lt;script&gt;alert(1)&lt;/script&gt; output off by 0.4" in html
    assert "<script>" not in html
    assert "http://" not in html and "https://" not in html  # nothing fetched from elsewhere

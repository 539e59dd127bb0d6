"""Given the status page on loopback, an operator sees live figures as JSON and can confirm or correct verdicts."""

from __future__ import annotations

import numpy as np
from flask.testing import FlaskClient

from models.training.surfaces import generate_surface
from tests.edge_agent.web.conftest import page_csrf
from tests.edge_agent.web.fakes import FakeView


def test_status_json_carries_every_panel_of_the_page(local_client: FlaskClient) -> None:
    # when the page polls the status API
    response = local_client.get("/api/v1/status")
    # then it gets every panel, shaped for the page
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    status = response.get_json()
    assert {
        "gateway",
        "agent_version",
        "uptime_s",
        "refresh_s",
        "broker",
        "ready",
        "models",
        "streams",
        "latency",
    } <= set(status)
    assert status["broker"] == {"connected": True, "detail": "connected"}
    assert status["ready"] == {"ready": True, "reasons": []}
    model = status["models"][0]
    assert {"name", "version", "task", "runtime", "sha256", "selftest_ms", "labels"} <= set(model)
    camera = next(row for row in status["streams"] if row["stream"] == "cam/cam-1")
    assert camera["dropped"] == 2 and camera["malformed"] == 1 and camera["rate"]["processed"] == 9.5
    assert {"pipeline": "inspection", "p50_ms": 15.0, "p99_ms": 40.0, "count": 300, "sum_ms": 5200.0} in status[
        "latency"
    ]
    assert status["queues"][0] == {
        "name": "frames",
        "depth": status["queues"][0]["depth"],
        "capacity": 32,
        "dropped": 2,
        "policy": "drop_oldest",
    }
    assert status["outbox"]["dropped"] == {"sample": 3}
    assert status["tags"][0]["tag"] == "temperature"
    assert status["ota_history"][0]["state"] == "rejected"
    assert status["assets"] == ["fan-1", "pump-1"]


def test_figures_change_between_two_reads(local_client: FlaskClient) -> None:
    def received() -> int:
        rows = local_client.get("/api/v1/status").get_json()["streams"]
        return next(r["received"] for r in rows if r["stream"] == "cam/cam-1")

    assert received() < received()


def test_recent_inspections_come_newest_first_with_thumbnails(local_client: FlaskClient, view: FakeView) -> None:
    # given two inspections, the second an ng part with a frame
    view.add_inspection("cam-1", "part-1", "ok", "ok")
    sample = generate_surface(np.random.default_rng(3), "pit")
    view.add_inspection("cam-1", "part-2", "ng", "pit", sample.image)
    # when the page asks for the latest one
    latest = local_client.get("/api/v1/inspections?limit=1").get_json()["inspections"]
    # then it gets the ng part, its labels and a thumbnail it can load
    assert [i["part_id"] for i in latest] == ["part-2"]
    assert latest[0]["labels"] == ["ok", "scratch", "pit", "crack", "stain"]
    assert latest[0]["highlight"] == "local contrast"
    image = local_client.get(f"/api/v1/thumbnails/{latest[0]['thumbnail_id']}.jpg")
    assert image.status_code == 200 and image.mimetype == "image/jpeg" and image.data[:2] == b"\xff\xd8"
    assert local_client.get("/api/v1/thumbnails/999.jpg").status_code == 404


def test_bad_limits_and_unknown_assets_are_client_errors(local_client: FlaskClient) -> None:
    assert local_client.get("/api/v1/inspections?limit=0").status_code == 400
    assert local_client.get("/api/v1/inspections?limit=abc").get_json()["error"].startswith("limit must be")
    assert local_client.get("/api/v1/health/no-such-asset").status_code == 404
    assert local_client.get("/api/v1/health/..%2Fetc").status_code == 404


def test_health_trend_as_json_and_as_an_escaped_svg_chart(local_client: FlaskClient, view: FakeView) -> None:
    points = local_client.get("/api/v1/health/pump-1?limit=5").get_json()["points"]
    assert len(points) == 5 and set(points[0]) == {"ts_ms", "state", "health_index", "anomaly_score"}
    # given a state name that looks like markup, when the chart is drawn, then it stays text
    view.health_points["pump-1"][0] = view.health_points["pump-1"][0].__class__(1, "<script>x</script>", 0.5, 0.1)
    chart = local_client.get("/api/v1/health/pump-1/chart.svg")
    assert chart.mimetype == "image/svg+xml"
    svg = chart.get_data(as_text=True)
    assert svg.startswith("<svg") and "<polyline" in svg and "<script>" not in svg and "&lt;script&gt;" in svg
    empty = local_client.get("/api/v1/health/fan-1/chart.svg").get_data(as_text=True)
    assert "no health data yet" in empty


def test_a_label_post_needs_the_page_csrf_token(local_client: FlaskClient, view: FakeView) -> None:
    body = {"camera": "cam-1", "part_id": "part-7", "label": "scratch", "operator": "Ana"}
    # when a label is posted without, or with a wrong, CSRF token, then it is refused and nothing is recorded
    assert local_client.post("/api/v1/labels", json=body).status_code == 403
    assert local_client.post("/api/v1/labels", json=body, headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert view.labels == []
    # when the page's token comes with it, then the label reaches the agent
    token = page_csrf(local_client)
    response = local_client.post("/api/v1/labels", json=body, headers={"X-CSRF-Token": token})
    assert response.status_code == 200 and response.get_json()["ok"] is True
    assert view.labels == [("cam-1", "part-7", "scratch", "Ana")]


def test_a_label_from_another_origin_is_refused_even_with_a_token(local_client: FlaskClient, view: FakeView) -> None:
    token = page_csrf(local_client)
    body = {"camera": "cam-1", "part_id": "p", "label": "ok"}
    headers = {"X-CSRF-Token": token, "Origin": "http://evil.example"}
    assert local_client.post("/api/v1/labels", json=body, headers=headers).status_code == 403
    assert view.labels == []


def test_invalid_labels_are_explained(local_client: FlaskClient, view: FakeView) -> None:
    headers = {"X-CSRF-Token": page_csrf(local_client)}
    unknown = local_client.post(
        "/api/v1/labels", json={"camera": "cam-1", "part_id": "p", "label": "dent"}, headers=headers
    )
    assert unknown.status_code == 400 and "not a label" in unknown.get_json()["error"]
    extra = local_client.post(
        "/api/v1/labels", json={"camera": "cam-1", "part_id": "p", "label": "ok", "admin": True}, headers=headers
    )
    assert extra.status_code == 400 and "admin" in extra.get_json()["error"]
    bad_camera = local_client.post(
        "/api/v1/labels", json={"camera": "../cam", "part_id": "p", "label": "ok"}, headers=headers
    )
    assert bad_camera.status_code == 400
    assert local_client.post("/api/v1/labels", data="not json", headers=headers).status_code == 400
    assert view.labels == []


def test_every_response_carries_the_security_headers(local_client: FlaskClient) -> None:
    for path in ("/", "/api/v1/status", "/metrics", "/livez", "/api/v1/nothing"):
        headers = local_client.get(path).headers
        assert headers["Content-Security-Policy"].startswith("default-src 'self'")
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Cache-Control"] == "no-store"


def test_the_page_escapes_names_it_renders(make_app, view: FakeView) -> None:
    # given a gateway id that looks like markup, when the page is rendered, then it is shown as text
    view.gateway = "<b>gw</b>"
    html = make_app().test_client().get("/").get_data(as_text=True)
    assert "&lt;b&gt;gw&lt;/b&gt;" in html and "<b>gw</b>" not in html
    assert "<script src=" in html and "<script>" not in html  # no inline script: the CSP forbids it


def test_loopback_page_refuses_foreign_host_names(local_client: FlaskClient) -> None:
    # a DNS-rebinding page would reach 127.0.0.1 under its own host name; the loopback page answers localhost only
    assert local_client.get("/api/v1/status", headers={"Host": "evil.example:8080"}).status_code == 421
    assert local_client.get("/api/v1/status", headers={"Host": "127.0.0.1:8080"}).status_code == 200
    assert local_client.get("/api/v1/status", headers={"Host": "[::1]:8080"}).status_code == 200

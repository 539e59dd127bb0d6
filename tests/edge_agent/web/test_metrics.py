"""Given a Prometheus scraper and a supervisor, /metrics, /livez and /readyz tell them how the agent is doing."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.edge_agent.web.fakes import FakeView


def scrape(client: FlaskClient) -> dict[str, list[Sample]]:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    return {family.name: family.samples for family in text_string_to_metric_families(response.get_data(as_text=True))}


def value(samples: list[Sample], metric: str, **labels: str) -> float:
    matches = [s.value for s in samples if s.name == metric and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(matches) == 1, f"{metric}{labels}: {matches}"
    return matches[0]


def test_metrics_parse_and_hold_every_expected_family(local_client: FlaskClient) -> None:
    families = scrape(local_client)
    expected = {
        "edge_agent_build_info",
        "edge_agent_start_time_seconds",
        "edge_agent_broker_connected",
        "edge_agent_ready",
        "edge_agent_model_info",
        "edge_agent_model_selftest_seconds",
        "edge_agent_inference_seconds",
        "edge_agent_pipeline_latency_seconds",
        "edge_agent_messages_received",
        "edge_agent_messages_processed",
        "edge_agent_messages_dropped",
        "edge_agent_messages_malformed",
        "edge_agent_messages_failed",
        "edge_agent_model_results",
        "edge_agent_model_failures",
        "edge_agent_samples_captured",
        "edge_agent_queue_depth",
        "edge_agent_queue_capacity",
        "edge_agent_queue_dropped",
        "edge_agent_outbox_records",
        "edge_agent_outbox_bytes",
        "edge_agent_outbox_budget_bytes",
        "edge_agent_outbox_dropped",
        "edge_agent_ota_state",
    }
    assert expected <= set(families), expected - set(families)
    assert all(name.startswith("edge_agent_") for name in families)


def test_metrics_are_in_base_units_with_useful_labels(local_client: FlaskClient) -> None:
    families = scrape(local_client)
    build = families["edge_agent_build_info"]
    assert value(build, "edge_agent_build_info", version="9.9.9", gateway="gw-test") == 1
    model = families["edge_agent_model_info"]
    assert value(model, "edge_agent_model_info", name="surface-inspection", runtime="litert", sha256="ab" * 32) == 1
    inference = families["edge_agent_inference_seconds"]
    labels = {"model": "surface-inspection", "version": "1.0.0"}
    assert value(inference, "edge_agent_inference_seconds", quantile="0.5", **labels) == 0.012
    assert value(inference, "edge_agent_inference_seconds", quantile="0.99", **labels) == 0.03
    assert value(inference, "edge_agent_inference_seconds_count", **labels) == 300
    assert value(inference, "edge_agent_inference_seconds_sum", **labels) == 4.0
    pipeline = families["edge_agent_pipeline_latency_seconds"]
    assert value(pipeline, "edge_agent_pipeline_latency_seconds", quantile="0.99", pipeline="inspection") == 0.04
    assert value(families["edge_agent_messages_dropped"], "edge_agent_messages_dropped_total", stream="cam/cam-1") == 2
    assert value(families["edge_agent_queue_capacity"], "edge_agent_queue_capacity", queue="windows") == 256
    assert value(families["edge_agent_outbox_dropped"], "edge_agent_outbox_dropped_total", **{"class": "sample"}) == 3
    assert (
        value(
            families["edge_agent_model_selftest_seconds"],
            "edge_agent_model_selftest_seconds",
            model="surface-inspection",
            version="1.0.0",
        )
        == 0.0415
    )


def test_ota_state_is_one_hot_per_model(local_client: FlaskClient) -> None:
    ota = scrape(local_client)["edge_agent_ota_state"]
    current = [s for s in ota if s.value == 1]
    assert [(s.labels["model"], s.labels["version"], s.labels["state"]) for s in current] == [
        ("surface-inspection", "1.1.0", "rejected")
    ]
    assert len(ota) == 11  # every state of the OTA state machine, so alerts can match on any of them


def test_counters_grow_between_scrapes(local_client: FlaskClient) -> None:
    first = value(
        scrape(local_client)["edge_agent_messages_received"], "edge_agent_messages_received_total", stream="cam/cam-1"
    )
    second = value(
        scrape(local_client)["edge_agent_messages_received"], "edge_agent_messages_received_total", stream="cam/cam-1"
    )
    assert second > first


def test_each_app_has_its_own_registry(make_app: Callable[..., Flask]) -> None:
    # two apps in one process (tests, or a restart of the web part) must not collide in a global registry
    first, second = make_app().test_client(), make_app().test_client()
    assert first.get("/metrics").status_code == 200 and second.get("/metrics").status_code == 200


def test_outbox_figures_are_zero_when_the_agent_has_no_outbox(local_client: FlaskClient, view: FakeView) -> None:
    view.outbox = lambda: None  # type: ignore[method-assign]
    families = scrape(local_client)
    assert value(families["edge_agent_outbox_records"], "edge_agent_outbox_records") == 0
    assert local_client.get("/api/v1/status").get_json()["outbox"] is None


def test_livez_answers_while_the_process_runs(local_client: FlaskClient) -> None:
    response = local_client.get("/livez")
    assert (response.status_code, response.get_json()) == (200, {"status": "alive"})


def test_readyz_is_503_with_reasons_until_broker_and_models_are_there(
    local_client: FlaskClient, view: FakeView
) -> None:
    view.connected = False
    view.models_loaded = False
    response = local_client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {
        "status": "not ready",
        "reasons": ["broker not connected", "models not loaded: surface-inspection"],
    }
    view.connected = True
    view.models_loaded = True
    response = local_client.get("/readyz")
    assert (response.status_code, response.get_json()) == (200, {"status": "ready", "reasons": []})
    assert value(scrape(local_client)["edge_agent_ready"], "edge_agent_ready") == 1

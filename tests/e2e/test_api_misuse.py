"""Given a running agent serving its models, bad requests each get a clear protocol error that is counted, everyone
else keeps being served, and an OTA-style swap under a request loop is seen by the next request, never half-made."""

from __future__ import annotations

import base64
import http.client
import json
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from edge_agent.ota.local import rollback_on_disk
from models.training.surfaces import generate_surface
from tests.e2e.api_gateway import Gateway, start_gateway


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    served = start_gateway(tmp_path_factory.mktemp("api-misuse"))
    yield served
    served.stop()


def _post(gateway: Gateway, path: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    connection = http.client.HTTPConnection(gateway.http, timeout=30)
    try:
        sent = {**gateway.headers, "Content-Type": "application/json", **(headers or {})}
        connection.request("POST", path, body=body, headers=sent)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def _infer_body(name: str, datatype: str, shape: list[int], data: object) -> bytes:
    return json.dumps({"inputs": [{"name": name, "datatype": datatype, "shape": shape, "data": data}]}).encode()


def _binary_body(datatype: str, shape: list[int], raw: bytes, claimed: int | None = None) -> tuple[bytes, dict]:
    size = len(raw) if claimed is None else claimed
    head = json.dumps(
        {"inputs": [{"name": "image", "datatype": datatype, "shape": shape, "parameters": {"binary_data_size": size}}]}
    ).encode()
    return head + raw, {"Inference-Header-Content-Length": str(len(head))}


def test_every_bad_request_gets_its_protocol_error_and_is_counted(gateway: Gateway) -> None:
    infer = "/v2/models/surface-inspection/infer"
    good_jpeg = generate_surface(np.random.default_rng(3), "ok", 256).jpeg
    good = json.dumps(
        {
            "inputs": [
                {
                    "name": "image_bytes",
                    "datatype": "BYTES",
                    "shape": [1],
                    "data": [base64.b64encode(good_jpeg).decode()],
                    "parameters": {"content_type": "base64"},
                }
            ]
        }
    ).encode()
    pixels = bytes(256 * 256)
    truncated, truncated_headers = _binary_body("UINT8", [1, 256, 256, 1], pixels[:1000], claimed=len(pixels))
    short, short_headers = _binary_body("UINT8", [1, 256, 256, 1], pixels[:1000])
    cases = [
        ("unknown model", "/v2/models/no-such-model/infer", good, {}, 404, "unknown model 'no-such-model'"),
        (
            "unknown version",
            "/v2/models/surface-inspection/versions/9.9.9/infer",
            good,
            {},
            404,
            "no installed version",
        ),
        ("wrong datatype", infer, _infer_body("image", "FP32", [1, 2], [0.0, 1.0]), {}, 400, "must be UINT8"),
        ("wrong shape", infer, _infer_body("image", "UINT8", [1, 4], [0, 1, 2, 3]), {}, 400, "has shape [1, 4]"),
        ("bytes vs shape", infer, short, short_headers, 400, "1000 bytes of data; shape [1, 256, 256, 1]"),
        ("truncated binary", infer, truncated, truncated_headers, 400, "truncated body"),
        ("invalid JSON", infer, b'{"inputs": [', {}, 400, "not valid JSON"),
        ("not an image", infer, _infer_body("image_bytes", "BYTES", [1], ["hello"]), {}, 400, "neither JPEG nor PNG"),
        ("50 MB body", infer, b" " * (50 * 1024 * 1024), {}, 413, "exceeds"),
        ("missing token", infer, good, {"Authorization": ""}, 401, "missing bearer token"),
        ("wrong token", infer, good, {"Authorization": "Bearer not-the-token-at-all"}, 401, "wrong bearer token"),
    ]
    for what, path, body, headers, status, reason in cases:
        # When a client sends it
        code, answer = _post(gateway, path, body, headers)
        # Then it gets the protocol status with the reason, and the next client is still served
        assert (code, reason in answer.get("error", "")) == (status, True), (what, code, answer)
        assert _post(gateway, infer, good)[0] == 200, what
    # And over gRPC: unknown model, a bad image and a missing token, each with its status code
    import grpc
    import tritonclient.grpc as grpc_client
    from tritonclient.utils import InferenceServerException

    client = grpc_client.InferenceServerClient(gateway.grpc)
    image = grpc_client.InferInput("image_bytes", [1], "BYTES")
    image.set_data_from_numpy(np.array([b"not a picture"], dtype=np.object_))
    for model, headers, status in (
        ("no-such-model", gateway.grpc_headers, grpc.StatusCode.NOT_FOUND),
        ("surface-inspection", gateway.grpc_headers, grpc.StatusCode.INVALID_ARGUMENT),
        ("surface-inspection", {}, grpc.StatusCode.UNAUTHENTICATED),
    ):
        with pytest.raises(InferenceServerException) as caught:
            client.infer(model, [image], headers=headers)
        assert caught.value.status() == str(status), caught.value
    # And every call is counted in /metrics, by model, protocol and code
    metrics = gateway.metrics()
    for series in (
        'edge_agent_api_requests_total{code="404",model="_unknown",protocol="http"} 1.0',
        'edge_agent_api_requests_total{code="413",model="surface-inspection",protocol="http"} 1.0',
        'edge_agent_api_requests_total{code="401",model="surface-inspection",protocol="http"} 2.0',
        'edge_agent_api_requests_total{code="INVALID_ARGUMENT",model="surface-inspection",protocol="grpc"} 1.0',
        'edge_agent_api_requests_total{code="200",model="surface-inspection",protocol="http"} 11.0',
    ):
        assert series in metrics, series
    assert "edge_agent_api_request_seconds_bucket" in metrics and "edge_agent_api_queue_seconds_count" in metrics


def test_a_rollback_during_a_request_loop_is_seen_by_the_next_request_and_no_answer_is_half_made(
    gateway: Gateway,
) -> None:
    import tritonclient.grpc as grpc_client
    import tritonclient.http as http_client

    # Given a frame whose scores differ between the two installed versions
    jpeg = generate_surface(np.random.default_rng(8), "stain", 256).jpeg
    reference = {}
    client = http_client.InferenceServerClient(gateway.http)
    for version in ("1.0.0", "1.1.0"):
        image = http_client.InferInput("image_bytes", [1], "BYTES")
        image.set_data_from_numpy(np.array([jpeg], dtype=np.object_))
        result = client.infer("surface-inspection", [image], model_version=version, headers=gateway.headers)
        reference[result.get_response()["model_version"]] = result.as_numpy("scores")[0].tolist()
    assert set(reference) == {"1.0.0", "1.1.0"}
    # When HTTP and gRPC clients loop on the active version while the operator rolls back to 1.0.0
    seen: dict[str, list[tuple[str, list[float]]]] = {"http": [], "grpc": []}
    errors: list[BaseException] = []
    stop = threading.Event()

    def loop(protocol: str) -> None:
        module = http_client if protocol == "http" else grpc_client
        own = module.InferenceServerClient(gateway.http if protocol == "http" else gateway.grpc)
        headers = gateway.headers if protocol == "http" else gateway.grpc_headers
        try:
            while not stop.is_set() or len(seen[protocol]) < 5:
                image = module.InferInput("image_bytes", [1], "BYTES")
                image.set_data_from_numpy(np.array([jpeg], dtype=np.object_))
                result = own.infer("surface-inspection", [image], headers=dict(headers))
                version = (
                    result.get_response()["model_version"]
                    if protocol == "http"
                    else result.get_response().model_version
                )
                seen[protocol].append((version, result.as_numpy("scores")[0].tolist()))
                if len(seen[protocol]) > 2000:
                    return
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=loop, args=(p,)) for p in ("http", "grpc")]
    for thread in threads:
        thread.start()
    while min(len(v) for v in seen.values()) < 20 and not errors:
        threading.Event().wait(0.05)
    rollback_on_disk(gateway.models, "surface-inspection")
    deadline = threading.Event()
    for _ in range(200):  # the agent follows the pointer within about 2 s
        if all(v and v[-1][0] == "1.0.0" for v in seen.values()) or errors:
            break
        deadline.wait(0.05)
    stop.set()
    for thread in threads:
        thread.join(30)
    # Then every answer succeeded, went 1.1.0 ... 1.1.0, 1.0.0 ... 1.0.0, and matches its version's own scores
    assert not errors, errors
    for protocol, answers in seen.items():
        versions = [v for v, _ in answers]
        switch = versions.index("1.0.0")
        assert set(versions[:switch]) == {"1.1.0"} and set(versions[switch:]) == {"1.0.0"}, protocol
        for version, scores in answers:
            np.testing.assert_allclose(scores, reference[version], atol=1e-5)
    assert gateway.get("/v2/models/surface-inspection")[1]["parameters"]["version"] == "1.0.0"

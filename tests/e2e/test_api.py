"""Given a running agent, the plant's own clients (tritonclient HTTP and gRPC, the kserve SDK, curl) call its
models over the Open Inference Protocol and get exactly what `edge-agent infer` says on the same files."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge_agent.app import build_pipeline
from edge_agent.cli import main
from edge_agent.ingest.images import decode_image
from edge_agent.ingest.vibration import parse_vibration
from edge_agent.pipelines.inspection import QualityInspector
from edge_agent.pipelines.maintenance import HealthMonitor
from models.training.surfaces import generate_surface
from models.training.vibration import BEARINGS, generate_window, to_message
from tests.e2e.api_gateway import KEYS, REPO, Gateway, start_gateway

INSPECTION = REPO / "models" / "surface-inspection" / "1.1.0"
HEALTH = REPO / "models" / "bearing-health" / "1.1.0"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    served = start_gateway(tmp_path_factory.mktemp("api"))
    yield served
    served.stop()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(21)
    out = {}
    for label in ("ok", "pit"):
        out[label] = tmp / f"{label}.jpg"
        out[label].write_bytes(generate_surface(rng, label, (300, 400)).jpeg)
    sample = generate_window(rng, "outer_race", rpm=1780.0, fs_hz=25600.0, duration_s=0.5, bearing=BEARINGS[0])
    out["window"] = tmp / "window.json"
    out["window"].write_text(json.dumps(to_message(sample, include_bearing=True, binary=True)))
    return out


def _infer_cli(package: Path, path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(["infer", "--keys", str(KEYS), str(package), str(path)]) == 0
    return json.loads(capsys.readouterr().out.splitlines()[0])


def _features(window: Path) -> np.ndarray:
    pipeline = build_pipeline(HEALTH, [KEYS])
    assert isinstance(pipeline, HealthMonitor)
    return pipeline.prepare(parse_vibration(window.read_bytes())).astype(np.float32)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _scores(document: dict[str, Any]) -> list[float]:
    return list(document["scores"].values())


def test_tritonclient_http_reads_metadata_and_infers_json_binary_and_a_jpeg(
    gateway: Gateway, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    import tritonclient.http as http

    client = http.InferenceServerClient(gateway.http)
    # Given the model's metadata: its own input tensor (from the manifest) and the encoded input beside it
    assert client.is_server_live() and client.is_server_ready()
    meta = client.get_model_metadata("surface-inspection", headers=gateway.headers)
    assert meta["inputs"][0] == {"name": "image", "datatype": "UINT8", "shape": [-1, 256, 256, 1]}
    assert meta["inputs"][1] == {"name": "image_bytes", "datatype": "BYTES", "shape": [-1]}
    assert {"verdict", "scores"} <= {o["name"] for o in meta["outputs"]} and meta["versions"] == [
        "1.0.0",
        "1.1.0",
        "1.3.0",
    ]
    assert client.is_model_ready("surface-inspection", "1.1.0", headers=gateway.headers)
    index = client.get_model_repository_index(headers=gateway.headers)
    assert [r["version"] for r in index if r["name"] == "surface-inspection" and r["active"]] == ["1.1.0"]
    for label in ("ok", "pit"):
        # When a JPEG goes in as the encoded input (binary tensor extension)
        expected = _infer_cli(INSPECTION, files[label], capsys)
        image = http.InferInput("image_bytes", [1], "BYTES")
        image.set_data_from_numpy(np.array([files[label].read_bytes()], dtype=np.object_))
        result = client.infer("surface-inspection", [image], headers=gateway.headers)
        # Then verdict, label and scores are those of `edge-agent infer` on the same file
        assert result.as_numpy("verdict")[0].decode() == expected["verdict"]
        assert result.as_numpy("label")[0].decode() == expected["label"]
        np.testing.assert_allclose(result.as_numpy("scores")[0], _scores(expected), atol=1e-5)
        assert result.get_response()["model_version"] == "1.1.0"
    # When the same image goes in as the model's own tensor, once as JSON and once binary
    inspector = build_pipeline(INSPECTION, [KEYS])
    assert isinstance(inspector, QualityInspector)
    tensor = inspector.prepare(decode_image(files["pit"].read_bytes()))[None]
    for binary in (False, True):
        raw = http.InferInput("image", list(tensor.shape), "UINT8")
        raw.set_data_from_numpy(tensor, binary_data=binary)
        wanted = [http.InferRequestedOutput("verdict", binary_data=binary)]
        wanted.append(http.InferRequestedOutput("StatefulPartitionedCall_1:0", binary_data=binary))
        result = client.infer("surface-inspection", [raw], outputs=wanted, headers=gateway.headers)
        assert _text(result.as_numpy("verdict")[0]) == "ng"
        assert result.as_numpy("StatefulPartitionedCall_1:0").dtype == np.uint8
    # And a vibration message (JSON text in a BYTES tensor, no binary) gives infer's state and anomaly score
    expected = _infer_cli(HEALTH, files["window"], capsys)
    message = http.InferInput("vibration_message", [1], "BYTES")
    message.set_data_from_numpy(np.array([files["window"].read_bytes()], dtype=np.object_), binary_data=False)
    result = client.infer("bearing-health", [message], headers=gateway.headers)
    assert _text(result.as_numpy("state")[0]) == expected["state"]
    np.testing.assert_allclose(result.as_numpy("anomaly_score")[0], expected["anomaly_score"], atol=1e-5)
    np.testing.assert_allclose(result.as_numpy("scores")[0], _scores(expected), atol=1e-5)


def test_a_pinned_package_with_test_time_views_answers_like_edge_agent_infer(
    gateway: Gateway, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    import tritonclient.http as http

    client = http.InferenceServerClient(gateway.http)
    views = REPO / "models" / "surface-inspection" / "1.3.0"
    inspector = build_pipeline(views, [KEYS])
    assert isinstance(inspector, QualityInspector) and inspector.model.manifest.input.test_time_views == 4
    for label in ("ok", "pit"):
        # Given a JPEG sent to the installed 1.3.0, whose verdict averages four views of the frame
        expected = _infer_cli(views, files[label], capsys)
        image = http.InferInput("image_bytes", [1], "BYTES")
        image.set_data_from_numpy(np.array([files[label].read_bytes()], dtype=np.object_))
        result = client.infer("surface-inspection", [image], model_version="1.3.0", headers=gateway.headers)
        # Then verdict and scores are those of `edge-agent infer` with that package
        assert result.as_numpy("verdict")[0].decode() == expected["verdict"]
        np.testing.assert_allclose(result.as_numpy("scores")[0], _scores(expected), atol=1e-5)
    # When the frame goes in as the model's own tensor and the model's output is asked for too
    tensor = inspector.prepare(decode_image(files["pit"].read_bytes()))[None]
    raw = http.InferInput("image", list(tensor.shape), "UINT8")
    raw.set_data_from_numpy(tensor)
    output = inspector.model.manifest.output.tensors[0].name
    wanted = [http.InferRequestedOutput(name) for name in ("scores", output)]
    result = client.infer("surface-inspection", [raw], model_version="1.3.0", outputs=wanted, headers=gateway.headers)
    # Then the scores are the views' average, as for the JPEG, and the model tensor is its output on the tensor sent
    np.testing.assert_allclose(
        result.as_numpy("scores")[0], _scores(_infer_cli(views, files["pit"], capsys)), atol=1e-5
    )
    assert np.array_equal(result.as_numpy(output), inspector.model.runtime.run(tensor)[0])


def test_tritonclient_grpc_reads_metadata_and_infers_a_jpeg_and_a_raw_tensor(
    gateway: Gateway, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    import tritonclient.grpc as grpc_client

    client = grpc_client.InferenceServerClient(gateway.grpc)
    assert client.is_server_live() and client.is_server_ready()
    assert client.get_server_metadata(headers=gateway.grpc_headers).name == "edge-agent"
    meta = client.get_model_metadata("bearing-health", headers=gateway.grpc_headers)
    assert (meta.inputs[0].name, meta.inputs[0].datatype, list(meta.inputs[0].shape)) == ("features", "FP32", [-1, 40])
    assert client.is_model_ready("surface-inspection", headers=gateway.grpc_headers)
    # When a JPEG goes in over gRPC
    expected = _infer_cli(INSPECTION, files["pit"], capsys)
    image = grpc_client.InferInput("image_bytes", [1], "BYTES")
    image.set_data_from_numpy(np.array([files["pit"].read_bytes()], dtype=np.object_))
    result = client.infer("surface-inspection", [image], headers=gateway.grpc_headers)
    assert result.as_numpy("verdict")[0].decode() == expected["verdict"]
    np.testing.assert_allclose(result.as_numpy("scores")[0], _scores(expected), atol=1e-5)
    # And a batch of feature rows (the model's own tensor) gives one state per row
    features = _features(files["window"])
    batch = np.stack([features, features])
    raw = grpc_client.InferInput("features", list(batch.shape), "FP32")
    raw.set_data_from_numpy(batch)
    outputs = [grpc_client.InferRequestedOutput(n) for n in ("state", "probabilities")]
    result = client.infer("bearing-health", [raw], outputs=outputs, headers=gateway.grpc_headers)
    health = _infer_cli(HEALTH, files["window"], capsys)
    assert [s.decode() for s in result.as_numpy("state")] == [health["state"]] * 2
    assert result.as_numpy("probabilities").shape == (2, 6)


def test_the_kserve_sdk_rest_client_gets_the_same_answers(
    gateway: Gateway, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    features = _features(files["window"])
    child = REPO / "tests" / "e2e" / "api_kserve_child.py"
    done = subprocess.run(
        [
            sys.executable,
            str(child),
            f"http://{gateway.http}",
            gateway.token or "",
            str(files["pit"]),
            json.dumps([features.tolist()]),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout)
    expected = _infer_cli(INSPECTION, files["pit"], capsys)
    assert answer["image"]["verdict"] == [expected["verdict"]]  # (kserve's InferResponse drops model_version)
    np.testing.assert_allclose(answer["image"]["scores"][0], _scores(expected), atol=1e-5)
    assert answer["health"]["probabilities"][0] and len(answer["health"]["probabilities"][0]) == 6


def test_curl_from_a_shell_gets_metadata_and_a_verdict(gateway: Gateway, files: dict[str, Path]) -> None:
    header = f"Authorization: Bearer {gateway.token}"
    body = json.dumps(
        {
            "inputs": [
                {"name": "vibration_message", "datatype": "BYTES", "shape": [1], "data": [files["window"].read_text()]}
            ]
        }
    )
    script = (
        f"curl -sf -H '{header}' http://{gateway.http}/v2/models/bearing-health | head -c 2000 && echo && "
        f"curl -sf -H '{header}' -H 'Content-Type: application/json' --data-binary @- "
        f"http://{gateway.http}/v2/models/bearing-health/infer"
    )
    done = subprocess.run(["sh", "-c", script], input=body, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    meta, answer = (json.loads(line) for line in done.stdout.splitlines())
    assert meta["name"] == "bearing-health"
    outputs = {o["name"]: o["data"] for o in answer["outputs"]}
    assert outputs["state"][0] in (
        "healthy",
        "outer_race",
        "inner_race",
        "ball",
        "imbalance",
        "misalignment",
        "unknown",
        "uncertain",
    )

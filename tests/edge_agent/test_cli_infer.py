"""Given the shipped packages, `edge-agent infer` prints one JSON line per file and keeps going past bad ones."""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edge_agent.cli import main
from models.training.surfaces import generate_surface
from models.training.vibration import BEARINGS, generate_window, to_message

REPO = Path(__file__).resolve().parents[2]
KEYS = str(REPO / "models" / "keys")
INSPECTION = REPO / "models" / "surface-inspection" / "1.1.0"
INSPECTION_ONNX = REPO / "models" / "surface-inspection-onnx" / "1.1.0"
HEALTH = REPO / "models" / "bearing-health" / "1.1.0"


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict], str]:
    code = main(["infer", "--keys", KEYS, *args])
    captured = capsys.readouterr()
    return code, [json.loads(line) for line in captured.out.splitlines() if line.strip()], captured.err


@pytest.fixture
def images(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(11)
    out = {}
    for label in ("ok", "scratch", "pit", "crack", "stain"):
        path = tmp_path / f"{label}.jpg"
        path.write_bytes(generate_surface(rng, label, (300, 400)).jpeg)
        out[label] = path
    colour = tmp_path / "colour.png"
    grey = generate_surface(rng, "ok", 256).image
    cv2.imwrite(str(colour), cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))
    out["colour"] = colour
    return out


def test_images_get_verdicts_and_bad_files_get_error_lines(
    images: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"not an image at all")
    tiny = tmp_path / "tiny.png"
    cv2.imwrite(str(tiny), np.zeros((64, 64), np.uint8))
    deep = tmp_path / "deep.png"
    cv2.imwrite(str(deep), np.zeros((256, 256), np.uint16))
    files = [str(images[k]) for k in ("ok", "scratch", "pit", "colour")] + [str(garbage), str(tiny), str(deep)]
    files.append(str(tmp_path / "missing.jpg"))
    code, lines, err = _run([str(INSPECTION), *files], capsys)
    assert code == 1
    by_file = {Path(line["file"]).name: line for line in lines}
    assert by_file["ok.jpg"]["verdict"] == "ok" and by_file["pit.jpg"]["verdict"] == "ng"
    assert by_file["pit.jpg"]["label"] == "pit" and by_file["colour.png"]["verdict"] in ("ok", "ng")
    assert by_file["ok.jpg"]["model"]["name"] == "surface-inspection"
    assert "neither JPEG nor PNG" in by_file["garbage.jpg"]["error"]
    assert "at least 128 px" in by_file["tiny.png"]["error"]
    assert "16-bit" in by_file["deep.png"]["error"]
    assert by_file["missing.jpg"]["error_type"] == "FileNotFoundError"
    assert "garbage.jpg" in err


def test_file_names_can_come_from_stdin(
    images: dict[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{images['ok']}\n{images['crack']}\n"))
    code, lines, _ = _run([str(INSPECTION_ONNX), "-"], capsys)
    assert code == 0 and [Path(line["file"]).name for line in lines] == ["ok.jpg", "crack.jpg"]


def _window_file(tmp_path: Path, name: str, state: str, snr_db: float | None = None, **changes: object) -> Path:
    # the bearing of firmware-config/asset-pump-3.yaml (6205), which the message leaves to the asset file
    pinned: dict[str, Any] = {"bearing": BEARINGS[0], **({"snr_db": snr_db} if snr_db is not None else {})}
    sample = generate_window(np.random.default_rng(5), state, rpm=1780.0, fs_hz=25600.0, duration_s=0.5, **pinned)
    message = to_message(sample, include_bearing=False, binary=True)
    message.update(changes)
    path = tmp_path / name
    path.write_text(json.dumps({k: v for k, v in message.items() if v is not None}))
    return path


def test_vibration_messages_use_the_asset_file_and_report_state_and_anomaly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    asset = REPO / "firmware-config" / "asset-pump-3.yaml"
    nan = base64.b64encode(np.array([0.0, np.nan] * 3000, "<f4").tobytes()).decode()
    files = [
        _window_file(tmp_path, "healthy.json", "healthy"),
        _window_file(tmp_path, "outer.json", "outer_race"),
        _window_file(tmp_path, "loose.json", "looseness", snr_db=15.0),
        _window_file(tmp_path, "norpm.json", "healthy", rpm=None),
        _window_file(tmp_path, "nan.json", "healthy", samples_b64=nan),
        _window_file(tmp_path, "short.json", "healthy", samples_b64=base64.b64encode(b"\0" * 400).decode()),
    ]
    code, lines, _ = _run(["--asset", str(asset), str(HEALTH), *map(str, files)], capsys)
    by_file = {Path(line["file"]).name: line for line in lines}
    assert code == 1
    assert by_file["healthy.json"]["state"] == "healthy" and by_file["healthy.json"]["anomaly"] is False
    assert by_file["outer.json"]["state"] == "outer_race"
    assert by_file["loose.json"]["anomaly"] is True and by_file["loose.json"]["state"] == "unknown"
    assert by_file["norpm.json"]["state"] == "healthy"  # the asset file's rpm fills in
    assert "NaN" in by_file["nan.json"]["error"]
    assert by_file["short.json"]["error_type"] == "InputShapeError"


def test_a_vibration_message_without_rpm_and_without_an_asset_file_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _window_file(tmp_path, "norpm.json", "healthy", rpm=None)
    code, lines, _ = _run([str(HEALTH), str(path)], capsys)
    assert code == 1 and "no shaft speed" in lines[0]["error"]


def test_a_tampered_package_is_refused_with_exit_2_naming_the_file(
    tmp_path: Path, images: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    package = tmp_path / "surface-inspection" / "1.0.0"
    shutil.copytree(INSPECTION, package)
    model = package / "model.tflite"
    data = bytearray(model.read_bytes())
    data[100] ^= 0xFF
    model.write_bytes(bytes(data))
    code, lines, err = _run([str(package), str(images["ok"])], capsys)
    assert code == 2 and lines == []
    assert "model.tflite" in err and "sha256" in err


def test_both_runtimes_give_the_same_verdicts_on_the_selftest_images() -> None:
    from edge_agent.app import build_pipeline
    from edge_agent.pipelines.inspection import QualityInspector

    litert = build_pipeline(INSPECTION, [Path(KEYS)])
    onnx = build_pipeline(INSPECTION_ONNX, [Path(KEYS)])
    assert isinstance(litert, QualityInspector) and isinstance(onnx, QualityInspector)
    with np.load(INSPECTION / "selftest.npz") as data:
        inputs = data["inputs"]  # uint8 grey 256x256: the same pixels feed both models
    a = [o.result.verdict for o in litert.infer(list(inputs))]
    b = [o.result.verdict for o in onnx.infer([(x.astype(np.float32) / 255.0) for x in inputs])]
    assert a == b


def test_the_int8_onnx_model_computes_the_same_on_this_cpu_as_its_qdq_reference() -> None:
    # given the shipped ONNX package, when ONNX Runtime runs it with its fused int8 kernels (what gateways run)
    # and without graph optimizations (the plain QDQ semantics), then the outputs agree: a model quantized
    # so that non-VNNI x86 kernels saturate would disagree here, and fail its self-test on such gateways
    from models.training.onnx_unsigned import check_portable

    with np.load(INSPECTION_ONNX / "selftest.npz") as data:
        inputs = data["inputs"]
    assert check_portable((INSPECTION_ONNX / "model.onnx").read_bytes(), inputs, tolerance=0.02) <= 0.02


def test_the_console_script_runs(images: dict[str, Path]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "edge_agent.cli", "infer", "--keys", KEYS, str(INSPECTION), str(images["ok"])],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and json.loads(done.stdout)["verdict"] == "ok"

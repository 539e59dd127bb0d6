"""The cloud-sync CLI against a live service: publish with progress, device add, rollout, pause/resume, status."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from cloud_sync.cli import main
from tests.cloud_sync.helpers import ADMIN_TOKEN
from tests.cloud_sync.pg import free_port
from tests.cloud_sync.pkgtools import MODEL, make_package


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the CLI in-process; returns exit code, stdout and stderr."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_an_operator_publishes_provisions_and_rolls_out(
    live_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    remote = ("--url", live_url, "--token", ADMIN_TOKEN)
    package = make_package(tmp_path / "packages", "1.0.0")
    # when an operator publishes a package directory
    code, out, err = run(capsys, "publish", str(package), *remote)
    # then it is uploaded with a progress line and published
    assert code == 0, err
    assert f"published: {MODEL} 1.0.0" in out
    assert "uploading line-qi 1.0.0 [" in err and "100%" in err
    # and publishing it again says it is already there
    code, out, _ = run(capsys, "publish", str(package), *remote)
    assert code == 0 and "already published (identical)" in out
    # when two gateways are provisioned, each token is printed alone on stdout
    tokens = []
    for device in ("gw-1", "gw-2"):
        code, out, err = run(capsys, "device", "add", device, "--group", "line-1", *remote)
        assert code == 0 and "shown only now" in err
        tokens.append(out.strip())
    assert len(set(tokens)) == 2 and all(len(token) >= 40 for token in tokens)
    # when a rollout is started with shadow mode and a probation time
    code, out, err = run(
        capsys,
        "rollout",
        MODEL,
        "1.0.0",
        "--group",
        "line-1",
        "--canary",
        "50",
        "--shadow",
        "--probation",
        "60",
        *remote,
    )
    # then its waves are printed
    assert code == 0, err
    assert "rollout 1: line-qi 1.0.0 -> group line-1: active" in out
    assert "canary 0/1 committed (open); wave 1 0/1 committed (waiting)" in out
    # and it can be paused and resumed
    code, out, _ = run(capsys, "pause", "1", *remote)
    assert code == 0 and "paused by an operator" in out
    code, out, _ = run(capsys, "resume", "1", *remote)
    assert code == 0 and ": active" in out
    # and status shows models, devices and rollouts
    code, out, _ = run(capsys, "status", *remote)
    assert code == 0
    assert "line-qi 1.0.0  quality_inspection onnx" in out
    assert "gw-1  group line-1" in out and "last seen never" in out
    assert "rollout 1: line-qi 1.0.0" in out


def test_cli_errors_are_clear(
    live_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a package, a live service, and no token in the environment
    for variable in ("CLOUD_SYNC_ADMIN_TOKEN", "CLOUD_SYNC_ADMIN_TOKEN_FILE", "CLOUD_SYNC_URL"):
        monkeypatch.delenv(variable, raising=False)
    package = make_package(tmp_path / "packages", "1.0.0")
    # when the token is wrong, then the service's refusal is shown with a hint
    code, _, err = run(capsys, "publish", str(package), "--url", live_url, "--token", "wrong-token-0123456789")
    assert code == 1 and "HTTP 401 unauthorized" in err and "CLOUD_SYNC_ADMIN_TOKEN" in err
    # when the service is not there, then the CLI says it cannot reach it
    nowhere = f"http://127.0.0.1:{free_port()}"
    code, _, err = run(capsys, "status", "--url", nowhere, "--token", ADMIN_TOKEN)
    assert code == 1 and f"cannot reach cloud-sync at {nowhere}" in err
    # when a rollout names a version that is not published, the reason is shown
    code, _, err = run(capsys, "rollout", MODEL, "9.9.9", "--group", "g", "--url", live_url, "--token", ADMIN_TOKEN)
    assert code == 1 and "HTTP 404 not_found: model line-qi 9.9.9 is not published" in err
    # when PACKAGE_DIR is not a package, the CLI says what it expects
    code, _, err = run(capsys, "publish", str(tmp_path), "--url", live_url, "--token", ADMIN_TOKEN)
    assert code == 1 and "no manifest.json" in err
    # when no token is given at all, the CLI says how to give one
    code, _, err = run(capsys, "status", "--url", live_url)
    assert code == 1 and "no admin token" in err


def test_keygen_writes_a_private_key_only_its_owner_can_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # when a fleet key is generated
    key = tmp_path / "fleet.key"
    code, out, _ = run(capsys, "keygen", "--out", str(key))
    # then the private half is 0600 and the public half sits beside it; a second run does not overwrite
    assert code == 0 and "mode 0600" in out
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.with_suffix(".pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert run(capsys, "keygen", "--out", str(key))[0] == 2


def test_retrain_queue_leaves_the_run_to_the_service_and_refuses_an_unpublished_model(
    live_url: str, published: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    remote = ("--url", live_url, "--token", ADMIN_TOKEN)
    # when an operator queues a retraining of a published model
    code, out, err = run(capsys, "retrain", MODEL, "--queue", "--quick", *remote)
    # then a job waits for a replica's job loop (none runs in this test), and the CLI says how to follow it
    assert code == 0, err
    assert "retrain job 1 queued for line-qi" in out
    # and a model nobody published is refused with the reason
    code, _, err = run(capsys, "retrain", "no-such-model", "--queue", *remote)
    assert code == 1 and "HTTP 409 conflict: no version of no-such-model is published" in err

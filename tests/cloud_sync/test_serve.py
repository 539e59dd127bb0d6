"""`cloud-sync serve` as a real process: systemd READY/WATCHDOG/STOPPING, HTTP answers, refusal to start."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cloud_sync.helpers import ADMIN_TOKEN
from tests.cloud_sync.pg import free_port


@pytest.fixture
def notify_socket() -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket standing in for systemd's notify socket (short path: AF_UNIX limits it)."""
    directory = tempfile.mkdtemp(prefix="cs-notify-")
    path = os.path.join(directory, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(30)
    yield sock, path
    sock.close()
    os.unlink(path)
    os.rmdir(directory)


def _until(sock: socket.socket, wanted: str) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        message = sock.recv(4096).decode()
        if wanted in message:
            return message
    raise AssertionError(f"no {wanted} from the service")


def test_serve_tells_systemd_when_ready_pings_the_watchdog_and_stops_cleanly(
    tmp_path: Path, database_url: str, signing_key: Path, notify_socket: tuple[socket.socket, str]
) -> None:
    # given settings in the environment, as a systemd unit sets them, and a notify socket with a watchdog
    sock, path = notify_socket
    port = free_port()
    environ = {
        **os.environ,
        "CLOUD_SYNC_STATE_DIR": str(tmp_path / "state"),
        "CLOUD_SYNC_DATABASE_URL": database_url,
        "CLOUD_SYNC_SIGNING_KEY_PATH": str(signing_key),
        "CLOUD_SYNC_ADMIN_TOKEN": ADMIN_TOKEN,
        "NOTIFY_SOCKET": path,
        "WATCHDOG_USEC": "200000",
    }
    # when the service starts
    process = subprocess.Popen(
        [sys.executable, "-m", "cloud_sync.cli", "serve", "--port", str(port)],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        # then it reports READY once it listens, answers HTTP, and pings the watchdog while healthy
        assert f"STATUS=listening on 127.0.0.1:{port}" in _until(sock, "READY=1")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10) as answer:
            assert answer.status == 200
        _until(sock, "WATCHDOG=1")
        # and on Ctrl-C / SIGINT it says it is stopping and exits
        process.send_signal(signal.SIGINT)
        _until(sock, "STOPPING=1")
        assert process.wait(timeout=30) in (0, 130)
    finally:
        if process.poll() is None:
            process.kill()
        output = process.communicate(timeout=30)[0].decode(errors="replace")
    assert "cloud-sync listening on" in output


def test_serve_refuses_to_start_with_a_readable_signing_key(tmp_path: Path, signing_key: Path) -> None:
    # given a fleet key that others may read
    signing_key.chmod(0o644)
    environ = {
        **os.environ,
        "CLOUD_SYNC_STATE_DIR": str(tmp_path / "state"),
        "CLOUD_SYNC_SIGNING_KEY_PATH": str(signing_key),
        "CLOUD_SYNC_ADMIN_TOKEN": ADMIN_TOKEN,
    }
    # when the service is started, then it exits with 2 and tells how to fix it
    result = subprocess.run(
        [sys.executable, "-m", "cloud_sync.cli", "serve", "--port", str(free_port())],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "file mode 0644 is wider than 0600; run `chmod 600" in result.stderr

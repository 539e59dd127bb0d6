"""Given the unit files and a notify socket, systemd would accept the units and see READY, WATCHDOG and STOPPING."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge_agent.app import Agent
from edge_agent.config import parse_config
from edge_agent.demo.devbroker import DevBroker

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def _units(tmp_path: Path) -> list[Path]:
    out = []
    for unit in ("edge-agent.service", "cloud-sync.service"):
        text = (REPO / "systemd" / unit).read_text().replace("/opt/edge-agent/venv/bin", str(VENV_BIN))
        (tmp_path / unit).write_text(text)
        out.append(tmp_path / unit)
    return out


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing (Debian package systemd)"
    result = subprocess.run([analyze, "verify", *map(str, _units(tmp_path))], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_edge_agent_unit_exposure_is_at_most_2_5(tmp_path: Path) -> None:
    unit = _units(tmp_path)[0]
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(unit)], capture_output=True, text=True
    )
    line = next(line for line in result.stdout.splitlines() if "Overall exposure level" in line)
    exposure = float(line.split(":")[1].split()[0])
    assert exposure <= 2.5, line


class NotifySocket:
    """A unix datagram socket playing systemd's side of sd_notify."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except (TimeoutError, OSError):
                continue
            self.messages.append((time.monotonic(), data.decode()))

    def wait_for(self, text: str, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for when, message in self.messages:
                if text in message:
                    return when
            time.sleep(0.05)
        raise AssertionError(f"no {text!r} in {self.messages}")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def test_the_agent_process_notifies_ready_watchdog_and_stopping(
    agent_config: dict[str, Any], tmp_path: Path, broker: DevBroker
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(agent_config))
    notify = NotifySocket(tmp_path / "notify.sock")
    env = {"NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "1000000", "PATH": "/usr/bin:/bin"}
    process = subprocess.Popen(
        [sys.executable, "-m", "edge_agent.cli", "run", "--config", str(path)], env=env, stderr=subprocess.PIPE
    )
    try:
        ready_at = notify.wait_for("READY=1", 30)
        time.sleep(2.2)
        pings = [when for when, message in notify.messages if message == "WATCHDOG=1" and when > ready_at]
        assert len(pings) >= 3, notify.messages
        process.send_signal(signal.SIGTERM)
        notify.wait_for("STOPPING=1", 10)
        assert process.wait(20) == 0
    finally:
        if process.poll() is None:
            process.kill()
        notify.close()


def test_a_hung_main_loop_stops_the_watchdog_pings(
    agent_config: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notify = NotifySocket(tmp_path / "notify.sock")
    agent = Agent(
        parse_config(agent_config, "test"),
        environ={"NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "1000000"},
    )
    hang = threading.Event()
    release = threading.Event()
    original_tick = agent.service.tick

    def tick() -> None:
        if hang.is_set():
            release.wait(30)  # the main loop is stuck, as on a deadlock
        original_tick()

    monkeypatch.setattr(agent.service, "tick", tick)
    agent.start()
    runner = threading.Thread(target=agent.run, daemon=True)
    runner.start()
    try:
        notify.wait_for("READY=1", 30)
        time.sleep(1.5)
        hang.set()
        time.sleep(0.6)
        hung_at = time.monotonic()
        time.sleep(3.0)
        late = [when for when, message in notify.messages if message == "WATCHDOG=1" and when > hung_at]
        assert late == [], "pings continued while the main loop was hung"
    finally:
        release.set()
        agent.stop()
        runner.join(10)
        notify.close()

"""Given a notify socket, when the agent notifies, then systemd would see READY, WATCHDOG and STOPPING."""

from __future__ import annotations

import socket
from pathlib import Path

from edge_agent.systemd import SystemdNotifier


def test_notifications_reach_the_socket(tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        notifier = SystemdNotifier({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "4000000"})
        assert notifier.enabled and notifier.watchdog_interval_s == 2.0
        assert notifier.ready("serving 3 models")
        assert server.recv(1024) == b"READY=1\nSTATUS=serving 3 models"
        assert notifier.watchdog()
        assert server.recv(1024) == b"WATCHDOG=1"
        assert notifier.stopping()
        assert server.recv(1024).startswith(b"STOPPING=1")


def test_without_systemd_nothing_is_sent() -> None:
    notifier = SystemdNotifier({})
    assert not notifier.enabled and notifier.watchdog_interval_s is None
    assert not notifier.ready("x")

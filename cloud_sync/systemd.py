"""sd_notify for `cloud-sync serve` under systemd Type=notify: READY once listening, WATCHDOG while healthy."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)


class Notifier:
    """Sends notifications to $NOTIFY_SOCKET; does nothing when not run by systemd."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        address = environ.get("NOTIFY_SOCKET", "")
        # "@name" is an abstract socket: a leading NUL byte on Linux.
        self._address = "\0" + address[1:] if address.startswith("@") else address
        usec = environ.get("WATCHDOG_USEC", "")
        self.watchdog_interval_s = int(usec) / 2_000_000 if usec.isdigit() and int(usec) > 0 else None

    def notify(self, *lines: str) -> bool:
        """Send KEY=VALUE lines; False when there is no socket or sending failed."""
        if not self._address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.connect(self._address)
                sock.sendall("\n".join(lines).encode())
        except OSError as exc:
            log.warning("sd_notify failed: %s", exc)
            return False
        return True

    def start_watchdog(self, healthy: Callable[[], bool], stop: threading.Event) -> threading.Thread | None:
        """Ping WATCHDOG=1 at half the interval systemd asked for, but only while healthy() says so."""
        interval = self.watchdog_interval_s
        if interval is None:
            return None

        def run() -> None:
            while not stop.wait(interval):
                # A service whose database is gone stops pinging, so systemd restarts it.
                if healthy():
                    self.notify("WATCHDOG=1")
                else:
                    log.warning("not healthy; watchdog ping withheld")

        thread = threading.Thread(target=run, name="sd-watchdog", daemon=True)
        thread.start()
        return thread

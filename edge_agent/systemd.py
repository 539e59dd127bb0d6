"""sd_notify without libsystemd: READY, WATCHDOG, STATUS and STOPPING over $NOTIFY_SOCKET."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


class SystemdNotifier:
    """Sends notifications when run under systemd (Type=notify); does nothing otherwise."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        self._address = "\0" + address[1:] if address.startswith("@") else address
        usec = env.get("WATCHDOG_USEC", "")
        self.watchdog_interval_s = int(usec) / 2_000_000 if usec.isdigit() and int(usec) > 0 else None

    @property
    def enabled(self) -> bool:
        """True when a notify socket is set."""
        return bool(self._address)

    def notify(self, *lines: str) -> bool:
        """Send KEY=VALUE lines; False if there is no socket or the send failed."""
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

    def ready(self, status: str) -> bool:
        """READY=1 with a status line."""
        return self.notify("READY=1", f"STATUS={status}")

    def watchdog(self) -> bool:
        """WATCHDOG=1 keep-alive."""
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        """STOPPING=1 at shutdown."""
        return self.notify("STOPPING=1", "STATUS=stopping")

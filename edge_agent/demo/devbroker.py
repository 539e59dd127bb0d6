"""A private mosquitto on a free loopback port, for `edge-agent demo`, tests and benchmarks."""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from edge_agent.errors import EdgeAgentError

MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto")


class BrokerError(EdgeAgentError):
    """mosquitto is missing or did not start."""


def find_mosquitto() -> str:
    """Path of the mosquitto binary."""
    found = shutil.which("mosquitto") or next((p for p in MOSQUITTO_PATHS if Path(p).exists()), None)
    if not found:
        raise BrokerError("mosquitto is not installed (Debian: apt-get install mosquitto; `make demo` does it)")
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DevBroker:
    """Starts, kills and restarts one mosquitto with persistence in its own directory."""

    def __init__(self, port: int | None = None, workdir: Path | None = None, extra_config: str = "") -> None:
        self.port = port or free_port()
        self._own_dir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="edge-broker-"))
        self.extra_config = extra_config
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.workdir / "mosquitto.log"

    def config_text(self) -> str:
        """mosquitto.conf for this broker."""
        return "\n".join(
            [
                # mosquitto started as root would switch to user 'mosquitto', who cannot read our files
                f"user {getpass.getuser()}",
                f"listener {self.port} 127.0.0.1",
                "allow_anonymous true",
                "persistence true",
                f"persistence_location {self.workdir}/",
                "autosave_interval 1",
                "max_queued_messages 100000",
                "message_size_limit 67108864",
                "set_tcp_nodelay true",  # results are small: Nagle held each one for the client's delayed ACK
                "log_type error",
                "log_type warning",
                "log_type notice",
                f"log_dest file {self.log_path}",
                self.extra_config,
                "",
            ]
        )

    def start(self, timeout: float = 10.0) -> DevBroker:
        """Start mosquitto and wait until it accepts connections."""
        config = self.workdir / "mosquitto.conf"
        config.write_text(self.config_text())
        self.process = subprocess.Popen(
            [find_mosquitto(), "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                raise BrokerError(f"mosquitto exited at start: {error.strip()} (log: {self.log_path})")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise BrokerError(f"mosquitto did not listen on port {self.port} within {timeout} s")

    def kill(self) -> None:
        """SIGKILL the broker (a crash, not a clean stop)."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)

    def stop(self) -> None:
        """Stop the broker cleanly and remove its directory if we made it."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.process and self.process.stderr:
            self.process.stderr.close()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> DevBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

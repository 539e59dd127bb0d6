"""Real cloud-sync replicas for tests and the fleet bench: `cloud-sync serve --workers N` processes on one database."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.cloud_sync.pg import free_port


@dataclass
class Replica:
    """One `cloud-sync serve` process group (gunicorn master and its workers) on its own port."""

    port: int
    process: subprocess.Popen[bytes]
    log: Path
    url: str = field(init=False)

    def __post_init__(self) -> None:
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 60) -> None:
        """Block until /readyz answers 200; RuntimeError with the log tail when the process exits or times out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"replica on {self.port} exited {self.process.returncode}:\n{self.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"replica on {self.port} not ready after {timeout} s:\n{self.tail()}")

    def tail(self) -> str:
        """The end of the replica's log."""
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL the whole process group at once: master, workers and any job they run (a dead machine)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM (graceful), then SIGKILL when it lingers."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()


def write_config(path: Path, settings: dict[str, Any]) -> Path:
    """A YAML settings file for `cloud-sync serve --config`."""
    path.write_text(yaml.safe_dump({key: str(v) if isinstance(v, Path) else v for key, v in settings.items()}))
    return path


def start(config: Path, state_dir: Path, environ: dict[str, str] | None = None, level: str = "INFO") -> Replica:
    """Start one replica on a free port (not waiting for it); each has its own state directory (spool)."""
    port = free_port()
    state_dir.mkdir(parents=True, exist_ok=True)
    log = state_dir / f"replica-{port}.log"
    env = {**os.environ, **(environ or {}), "CLOUD_SYNC_STATE_DIR": str(state_dir)}
    command = [sys.executable, "-m", "cloud_sync.cli", "serve", "--config", str(config), "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--log-level", level], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Replica(port, process, log)


def start_ready(config: Path, root: Path, count: int, environ: dict[str, str] | None = None) -> list[Replica]:
    """Start count replicas side by side and wait until each answers /readyz."""
    replicas = [start(config, root / f"replica-{index}", environ) for index in range(count)]
    try:
        for replica in replicas:
            replica.wait_ready()
    except RuntimeError:
        for replica in replicas:
            replica.kill()
        raise
    return replicas

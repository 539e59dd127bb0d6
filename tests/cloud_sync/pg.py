"""A throwaway PostgreSQL cluster for tests: initdb + pg_ctl in a temp dir, run as the postgres user when root."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg


def _bindir() -> Path:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if not candidates:
        raise RuntimeError(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: "
            "install Debian's postgresql package (apt-get install -y postgresql, or `make system-deps`)"
        )
    return candidates[-1].parent


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresCluster:
    """One private server on 127.0.0.1:PORT with trust auth; a fresh database per test."""

    def __init__(self) -> None:
        self.bindir = _bindir()
        self.root = Path(tempfile.mkdtemp(prefix="cloud-sync-pg-"))
        self.port = free_port()
        self._names = itertools.count()
        # PostgreSQL refuses to run as root: hand the directory to the postgres user and run as it.
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser") or "/usr/sbin/runuser"
            self._as_user = [runuser, "-u", "postgres", "--"]
            shutil.chown(self.root, "postgres", "postgres")

    def _run(self, *command: str) -> None:
        result = subprocess.run(
            [*self._as_user, *command], cwd=self.root, capture_output=True, text=True, timeout=60, check=False
        )
        if result.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(
                f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr}{result.stdout}{tail}"
            )

    def start(self) -> None:
        """initdb (no fsync) and start the server; RuntimeError with the server log when it fails."""
        data, sockets = self.root / "data", self.root / "sock"
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        )
        self._run("mkdir", str(sockets))
        self.start_server()

    def start_server(self) -> None:
        """Start the (initialised) server and wait until it accepts connections."""
        options = (
            f"-p {self.port} -k {self.root / 'sock'} -c listen_addresses=127.0.0.1 -F "
            "-c full_page_writes=off -c synchronous_commit=off -c max_connections=200"
        )
        pg_ctl = str(self.bindir / "pg_ctl")
        data, log = str(self.root / "data"), str(self.root / "server.log")
        self._run(pg_ctl, "-D", data, "-l", log, "-w", "-t", "30", "-o", options, "start")

    def stop_server(self) -> None:
        """Stop the server (fast: connections are cut), keeping its files (a database restart)."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-m", "fast", "-w", "stop")

    def stop(self) -> None:
        """Stop the server at once and delete its files."""
        with contextlib.suppress(RuntimeError):
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str) -> str:
        """SQLAlchemy URL of one database."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _admin(self, statement: str) -> None:
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            conn.execute(statement)  # test-generated identifiers only

    def create_database(self) -> str:
        """A new empty database; returns its name."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        self._admin(f"CREATE DATABASE {name}")
        return name

    def drop_database(self, name: str) -> None:
        """Drop a database even if connections are left."""
        self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

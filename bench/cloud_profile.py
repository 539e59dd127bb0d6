"""Where cloud-sync's request CPU goes: py-spy on a running replica or cProfile in process, by library and stage."""

from __future__ import annotations

import cProfile
import pstats
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# A sample's own frame decides its library (first match in the file path wins).
BUCKETS = [
    ("/gunicorn/", "gunicorn (HTTP parsing, worker loop)"),
    ("/psycopg", "driver (psycopg)"),
    ("/sqlmodel/", "ORM/SQL (SQLAlchemy, SQLModel)"),
    ("/sqlalchemy/", "ORM/SQL (SQLAlchemy, SQLModel)"),
    ("/werkzeug/", "Flask/werkzeug"),
    ("/flask/", "Flask/werkzeug"),
    ("/pydantic", "JSON + validation (json, pydantic, base64)"),
    ("/json/", "JSON + validation (json, pydantic, base64)"),
    ("base64", "JSON + validation (json, pydantic, base64)"),
    ("/boto", "storage (file, S3)"),
    ("cloud_sync/storage.py", "storage (file, S3)"),
    ("/cloud_sync/", "cloud_sync's own code"),
]
OTHER = "other (stdlib: sockets, threads, hashlib, logging)"
# Stages: the share of samples (or cumulative time) under the function that does them.
STAGES = {
    ("context.py", "principal"): "auth: token lookup",
    ("context.py", "require_device"): "auth: device check + last_seen",
    ("fleet.py", "offers"): "desired: offers query",
    ("fleet.py", "desired"): "desired: document (before)",
    ("fleet.py", "record_report"): "report: store + rollout",
    ("context.py", "json_body"): "request JSON parse + validate",
    ("intake.py", "store_payloads"): "storage: sample bytes",
    ("intake.py", "store_batch"): "batch: one transaction",
    ("records.py", "decode_batch"): "batch: decode records",
    ("records.py", "interpret"): "batch: interpret records",
}


class Shares:
    """Fractions of the sampled CPU per library and per stage, filled in when profiling stops."""

    def __init__(self, tool: str) -> None:
        self.tool = tool
        self.libraries: dict[str, float] = {}
        self.stages: dict[str, float] = {}

    def fill(self, libraries: Counter[str], stages: Counter[str]) -> None:
        """Turn counts (samples or seconds) into fractions of the total."""
        total = sum(libraries.values()) or 1.0
        self.libraries = {name: value / total for name, value in libraries.most_common()}
        self.stages = {name: value / total for name, value in stages.most_common()}

    def print(self, name: str, cpu_ms: float) -> None:
        """The shares as ms of the measured CPU per request."""
        print(f"  where {name}'s {cpu_ms:.2f} ms go ({self.tool}):")
        for label, share in self.libraries.items():
            print(f"    {label:50s} {share * cpu_ms:6.2f} ms  {share:4.0%}")
        for label, share in self.stages.items():
            print(f"    stage {label:44s} {share * cpu_ms:6.2f} ms  {share:4.0%} (inclusive)")


def library(path: str) -> str:
    """The bucket of a source file (py-spy names them relative to their sys.path entry, cProfile absolutely)."""
    path = f"/{path}"
    return next((label for key, label in BUCKETS if key in path), OTHER)


@contextmanager
def spied(pid: int, rate: int = 400) -> Iterator[Shares]:
    """Sample a process tree with py-spy (nonblocking: the replica's CPU is not disturbed) while the block runs."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    shares = Shares(f"py-spy at {rate} Hz on the replica, own frames")
    with tempfile.TemporaryDirectory() as work:
        out = Path(work) / "raw.txt"
        command = [spy, "record", "--nonblocking", "--subprocesses", "-r", str(rate), "-f", "raw", "-o", str(out)]
        process = subprocess.Popen([*command, "-p", str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # py-spy attaches to every worker first
        yield shares
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
        libraries: Counter[str] = Counter()
        stages: Counter[str] = Counter()
        for line in out.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            frames = stack.split(";")
            # a frame reads "function (path:line)"
            leaf_path = frames[-1].rpartition("(")[2]
            libraries[library(leaf_path)] += int(count)
            for stage in {STAGES.get(_frame_key(frame)) for frame in frames} - {None}:
                stages[str(stage)] += int(count)
        shares.fill(libraries, stages)


def _frame_key(frame: str) -> tuple[str, str]:
    function, _, where = frame.partition(" (")
    return Path(where.rpartition(":")[0]).name, function.strip()


@contextmanager
def cprofiled() -> Iterator[Shares]:
    """cProfile (CPU clock) around the block in this process; it inflates call-heavy code, so read shares."""
    profile = cProfile.Profile(time.process_time)
    shares = Shares("cProfile in process, own time")
    profile.enable()
    yield shares
    profile.disable()
    libraries: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    raw: dict[Any, Any] = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    for (path, _line, function), (_cc, _nc, own, cumulative, _callers) in raw.items():
        libraries[library(path)] += own
        stage = STAGES.get((Path(path).name, function))
        if stage and "cloud_sync" in path:
            stages[stage] += cumulative
    shares.fill(libraries, stages)

"""The background job loop of a replica: claims retrain jobs, runs them with a renewed lease, applies retention."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from cloud_sync import jobs, retention
from cloud_sync.errors import CloudSyncError
from cloud_sync.settings import Settings
from cloud_sync.storage import Storage
from cloud_sync.tables import RetrainJob

log = logging.getLogger(__name__)
NOT_BETTER = 3  # exit status of `cloud-sync retrain` when the candidate is not better


class JobLoop:
    """One thread per process; any number of replicas run one each against the same database."""

    def __init__(self, settings: Settings, engine: Engine, storage: Storage, admin_token: str) -> None:
        self.settings = settings
        self.engine = engine
        self.storage = storage
        self._admin_token = admin_token
        self.owner = f"{socket.gethostname()}:{settings.port}/{os.getpid()}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_prune = 0.0

    def start(self) -> None:
        """Run the loop in a daemon thread."""
        self._thread = threading.Thread(target=self._run, name="cloud-sync-jobs", daemon=True)
        self._thread.start()
        log.info("job loop started as %s", self.owner)

    def stop(self) -> None:
        """Ask the loop to end after its current step."""
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._prune_when_due()
                job = jobs.claim(self.engine, self.owner, self.settings.job_lease_s, self.settings.job_max_attempts)
                if job is not None:
                    self._run_job(job)
                    continue
            except (SQLAlchemyError, CloudSyncError) as exc:
                # the database restarting is routine for a long-lived loop: log, wait, try again
                log.warning("job loop: %s", exc)
            self._stop.wait(self.settings.job_poll_s)

    def _prune_when_due(self) -> None:
        if time.monotonic() < self._next_prune:
            return
        self._next_prune = time.monotonic() + self.settings.prune_interval_s
        retention.prune_if_first(self.engine, self.storage, self.settings)

    def _command(self, job: RetrainJob) -> list[str]:
        template = self.settings.retrain_command or [
            sys.executable, "-m", "cloud_sync.cli", "retrain", "{model}", "--url", "{url}"
        ]  # fmt: skip
        values = {"{model}": job.model_name, "{url}": self.settings.local_url, "{job}": str(job.id)}
        # plain substitution, not str.format: an inline script in the command may hold braces of its own
        command = [values.get(part, part) for part in template]
        return [*command, "--quick"] if job.quick and self.settings.retrain_command is None else command

    def _run_job(self, job: RetrainJob) -> None:
        assert job.id is not None
        try:
            self._execute(job)
        except (SQLAlchemyError, CloudSyncError):
            raise  # the lease runs out and the job is claimed again
        except Exception as exc:
            # a bug must fail this job visibly, not kill the loop and leave the job to bounce between replicas
            log.exception("retrain job %s broke the job loop", job.id)
            jobs.finish(self.engine, job.id, self.owner, "failed", None, f"internal error: {exc!r}")

    def _execute(self, job: RetrainJob) -> None:
        assert job.id is not None
        command = self._command(job)
        environ = {**os.environ, "CLOUD_SYNC_ADMIN_TOKEN": self._admin_token}
        try:
            child = subprocess.Popen(
                command, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
            )
        except OSError as exc:
            jobs.finish(self.engine, job.id, self.owner, "failed", None, f"cannot run {command[0]}: {exc}")
            return
        output: list[str] = []
        reader = threading.Thread(target=lambda: output.extend(child.stdout or []), daemon=True)
        reader.start()
        renew_every = self.settings.job_lease_s / 3
        while True:
            try:
                code = child.wait(timeout=renew_every)
                break
            except subprocess.TimeoutExpired:
                pass
            try:
                still_mine = jobs.renew(self.engine, job.id, self.owner, self.settings.job_lease_s)
            except SQLAlchemyError as exc:
                log.warning("retrain job %s: cannot renew the lease (%s); trying again", job.id, exc)
                continue
            if not still_mine:
                log.error("retrain job %s: lease lost to another replica; stopping the run", job.id)
                child.kill()
                child.wait()
                return
        reader.join(timeout=10)
        state = {0: "succeeded", NOT_BETTER: "not_better"}.get(code, "failed")
        jobs.finish(self.engine, job.id, self.owner, state, code, "".join(output))

"""Retrain job queue in the database: enqueue, claim with FOR UPDATE SKIP LOCKED, renew the lease, finish."""

from __future__ import annotations

import logging

from sqlalchemy import Engine, or_, update
from sqlmodel import col, select

from cloud_sync.db import now_ms, session
from cloud_sync.errors import NotFound
from cloud_sync.tables import RetrainJob
from cloud_sync.wire import RetrainJobOut

log = logging.getLogger(__name__)
OUTPUT_LIMIT = 8000
FINISHED = ("succeeded", "not_better", "failed")


def enqueue(engine: Engine, model: str, quick: bool) -> RetrainJob:
    """Queue a retraining run of model; any replica's job loop may pick it up."""
    with session(engine) as db:
        job = RetrainJob(model_name=model, quick=quick, state="queued", created_ms=now_ms())
        db.add(job)
        db.commit()
    log.info("retrain job %s queued for %s", job.id, model)
    return job


def get(engine: Engine, job_id: int) -> RetrainJob:
    """One job; NotFound when unknown."""
    with session(engine) as db:
        job = db.get(RetrainJob, job_id)
    if job is None:
        raise NotFound(f"retrain job {job_id} does not exist")
    return job


def recent(engine: Engine, limit: int = 100) -> list[RetrainJob]:
    """The newest jobs first."""
    with session(engine) as db:
        return list(db.exec(select(RetrainJob).order_by(col(RetrainJob.id).desc()).limit(limit)).all())


def claim(engine: Engine, owner: str, lease_s: float, max_attempts: int) -> RetrainJob | None:
    """Take the oldest queued job, or one whose lease ran out (its replica died); None when there is none.

    SKIP LOCKED lets every replica poll at once: each sees only rows no other claim holds, so one job goes to
    exactly one replica; the lease (renewed by heartbeat) is what keeps it that replica's afterwards.
    """
    stamp = now_ms()
    with session(engine) as db:
        claimable = or_(
            col(RetrainJob.state) == "queued",
            (col(RetrainJob.state) == "running") & (col(RetrainJob.lease_expires_ms) < stamp),
        )
        query = select(RetrainJob).where(claimable).order_by(col(RetrainJob.id)).limit(1)
        job = db.exec(query.with_for_update(skip_locked=True)).first()
        if job is None:
            return None
        if job.attempts >= max_attempts:
            job.state, job.finished_ms, job.lease_expires_ms = "failed", stamp, None
            job.output = f"given up: the replica running it stopped {job.attempts} times ({job.owner} last)"
            db.add(job)
            db.commit()
            log.warning("retrain job %s failed: %s", job.id, job.output)
            return None
        if job.state == "running":
            log.warning("retrain job %s: lease of %s ran out; %s takes it over", job.id, job.owner, owner)
        job.state, job.owner, job.attempts = "running", owner, job.attempts + 1
        job.lease_expires_ms, job.started_ms = stamp + int(lease_s * 1000), stamp
        db.add(job)
        db.commit()
    log.info("retrain job %s (%s) claimed by %s, attempt %d", job.id, job.model_name, owner, job.attempts)
    return job


def renew(engine: Engine, job_id: int, owner: str, lease_s: float) -> bool:
    """Extend the lease; False when the job is no longer this owner's (its lease ran out and was taken over)."""
    statement = (
        update(RetrainJob)
        .where(col(RetrainJob.id) == job_id, col(RetrainJob.owner) == owner, col(RetrainJob.state) == "running")
        .values(lease_expires_ms=now_ms() + int(lease_s * 1000))
    )
    with engine.begin() as connection:
        return bool(connection.execute(statement).rowcount)


def finish(engine: Engine, job_id: int, owner: str, state: str, exit_code: int | None, output: str) -> bool:
    """Record the outcome, only if the job is still this owner's; False otherwise."""
    statement = (
        update(RetrainJob)
        .where(col(RetrainJob.id) == job_id, col(RetrainJob.owner) == owner, col(RetrainJob.state) == "running")
        .values(
            state=state, exit_code=exit_code, output=output[-OUTPUT_LIMIT:], finished_ms=now_ms(), lease_expires_ms=None
        )
    )
    with engine.begin() as connection:
        done = bool(connection.execute(statement).rowcount)
    log.info("retrain job %s: %s (exit %s)%s", job_id, state, exit_code, "" if done else " but the lease was lost")
    return done


def job_out(job: RetrainJob) -> RetrainJobOut:
    """Wire form of a job."""
    return RetrainJobOut(
        id=job.id or 0,
        model=job.model_name,
        quick=job.quick,
        state=job.state,
        attempts=job.attempts,
        owner=job.owner,
        lease_expires_ms=job.lease_expires_ms,
        exit_code=job.exit_code,
        output=job.output,
        created_ms=job.created_ms,
        started_ms=job.started_ms,
        finished_ms=job.finished_ms,
    )

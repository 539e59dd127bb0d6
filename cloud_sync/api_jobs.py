"""Admin API of background work: retrain jobs (queued here, run by whichever replica claims them) and retention."""

from __future__ import annotations

import logging
from dataclasses import asdict

from flask import Blueprint, Response
from sqlmodel import select

from cloud_sync import jobs, retention
from cloud_sync.context import json_body, json_response, require_admin, services
from cloud_sync.db import session
from cloud_sync.errors import Conflict
from cloud_sync.tables import ModelVersion
from cloud_sync.wire import RetrainJobIn

log = logging.getLogger(__name__)
jobs_api = Blueprint("jobs", __name__)


@jobs_api.before_request
def _admin_only() -> None:
    require_admin()


@jobs_api.post("/retrain-jobs")
def add_job() -> Response:
    """Queue a retraining run of a published model; 201 with the job."""
    body = json_body(RetrainJobIn)
    engine = services().engine
    with session(engine) as db:
        if db.exec(select(ModelVersion.id).where(ModelVersion.name == body.model)).first() is None:
            raise Conflict(f"no version of {body.model} is published; publish one before retraining it")
    return json_response(jobs.job_out(jobs.enqueue(engine, body.model, body.quick)), 201)


@jobs_api.get("/retrain-jobs")
def list_jobs() -> Response:
    """The newest 100 jobs first."""
    return json_response([jobs.job_out(job) for job in jobs.recent(services().engine)])


@jobs_api.get("/retrain-jobs/<int:job_id>")
def one_job(job_id: int) -> Response:
    """One job: state, attempts, owner, exit status and output tail."""
    return json_response(jobs.job_out(jobs.get(services().engine, job_id)))


@jobs_api.post("/retention/prune")
def prune() -> Response:
    """Apply the retention settings now (replicas also do it every prune_interval_s)."""
    found = services()
    pruned = retention.prune_if_first(found.engine, found.storage, found.settings)
    if pruned is None:
        raise Conflict("another replica is pruning right now; try again later")
    return json_response(asdict(pruned))

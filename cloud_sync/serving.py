"""`cloud-sync serve`: one waitress process, or a gunicorn master with N worker processes (stateless replicas)."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from flask import Flask

from cloud_sync.app import create_app, dispose, healthy, services_of
from cloud_sync.errors import ConfigError
from cloud_sync.settings import Settings
from cloud_sync.systemd import Notifier
from cloud_sync.worker import JobLoop

log = logging.getLogger(__name__)


def _body_limit(settings: Settings) -> int:
    return max(settings.max_upload_bytes, settings.max_batch_bytes) + (1 << 20)


def _start_jobs(app: Flask, settings: Settings) -> JobLoop | None:
    if not settings.jobs:
        return None
    found = services_of(app)
    loop = JobLoop(settings, found.engine, found.storage, settings.read_admin_token())
    loop.start()
    return loop


def serve(settings: Settings) -> int:
    """Build the app (settings, key and database checked, schema migrated) and serve until stopped."""
    app = create_app(settings)
    if settings.workers:
        return _gunicorn(app, settings)
    return _waitress(app, settings)


def _waitress(app: Flask, settings: Settings) -> int:
    from waitress.server import create_server  # only the serve command needs a server

    try:
        server = create_server(
            app,
            host=settings.host,
            port=settings.port,
            threads=settings.threads,
            max_request_body_size=_body_limit(settings),
            ident="cloud-sync",
        )
    except OSError as exc:
        raise ConfigError(f"cannot listen on {settings.host}:{settings.port} ({exc.strerror})") from exc
    notifier = Notifier(os.environ)
    stop = threading.Event()
    notifier.notify("READY=1", f"STATUS=listening on {settings.host}:{settings.port}")
    notifier.start_watchdog(lambda: healthy(app), stop)
    loop = _start_jobs(app, settings)
    log.info("cloud-sync listening on http://%s:%d", settings.host, settings.port)
    try:
        server.run()
    finally:
        stop.set()
        if loop:
            loop.stop()
        notifier.notify("STOPPING=1")
        dispose(app)
    return 0


def _gunicorn(app: Flask, settings: Settings) -> int:
    from gunicorn.app.base import BaseApplication

    # The master built the app (and migrated) once; its connections must not be shared with forked workers.
    dispose(app)
    notifier = Notifier(os.environ)
    stop = threading.Event()

    def post_fork(_server: Any, _worker: Any) -> None:
        # each worker opens its own database connections and S3 sessions (pools are not fork-safe)
        services_of(app).engine.dispose(close=False)
        stop.set()  # the master's watchdog thread does not survive fork; nothing to stop in the worker

    def post_worker_init(_worker: Any) -> None:
        _start_jobs(app, settings)

    def when_ready(_server: Any) -> None:
        # gunicorn itself sends READY=1; the watchdog pings while the database answers
        notifier.start_watchdog(lambda: healthy(app), stop)
        log.info("cloud-sync listening on http://%s:%d (%d workers)", settings.host, settings.port, settings.workers)

    def on_exit(_server: Any) -> None:
        stop.set()
        notifier.notify("STOPPING=1")

    options: dict[str, Any] = {
        "bind": f"[{settings.host}]:{settings.port}" if ":" in settings.host else f"{settings.host}:{settings.port}",
        "workers": settings.workers,
        "worker_class": "gthread",
        "threads": settings.threads,
        # large package uploads and artifact downloads take longer than gunicorn's 30 s default
        "timeout": 300,
        "graceful_timeout": 20,
        "keepalive": 30,
        "post_fork": post_fork,
        "post_worker_init": post_worker_init,
        "when_ready": when_ready,
        "on_exit": on_exit,
        "proc_name": f"cloud-sync:{settings.port}",
        "accesslog": None,
    }

    class _Server(BaseApplication):
        """gunicorn driven from our settings instead of its command line."""

        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Flask:
            return app

    _Server().run()
    return 0

"""Flask application factory: settings in, a ready app out (schema migrated, key loaded, storage open)."""

from __future__ import annotations

import logging

from flask import Flask, Response
from sqlalchemy import text
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from werkzeug.exceptions import HTTPException

from cloud_sync.api_admin import admin
from cloud_sync.api_data import data_api
from cloud_sync.api_device import device_api
from cloud_sync.api_jobs import jobs_api
from cloud_sync.context import EXTENSION, Services, json_response
from cloud_sync.db import create_db_engine, migrate
from cloud_sync.errors import ApiError, StorageError, Unauthorized
from cloud_sync.fleet import hash_token
from cloud_sync.page import page
from cloud_sync.settings import Settings
from cloud_sync.signing import FleetSigner
from cloud_sync.storage import Storage, open_storage

log = logging.getLogger(__name__)
API_PREFIX = "/api/v1"


def _error(code: str, detail: str, status: int) -> Response:
    return json_response({"error": code, "detail": detail}, status)


def _register_errors(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        response = _error(exc.code, exc.detail, exc.status)
        if isinstance(exc, Unauthorized):
            response.headers["WWW-Authenticate"] = 'Bearer realm="cloud-sync"'
        return response

    @app.errorhandler(StorageError)
    def _storage_error(exc: StorageError) -> Response:
        log.error("storage: %s", exc)
        return _error("storage_unavailable", str(exc), 503)

    @app.errorhandler(OperationalError)
    def _database_down(exc: OperationalError) -> Response:
        log.error("database: %s", exc.orig)
        return _error("database_unavailable", "the database cannot be reached; try again later", 503)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        code = (exc.name or "error").lower().replace(" ", "_")
        return _error(code, exc.description or code, exc.code or 500)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error")
        return _error("internal", "internal server error; see the service log", 500)


def create_app(settings: Settings, storage: Storage | None = None) -> Flask:
    """Build the app: load the fleet key (mode checked), migrate the database to head, open storage."""
    signer = FleetSigner.load(settings.signing_key_path)
    admin_token = settings.read_admin_token()
    engine = create_db_engine(settings.resolved_database_url)
    migrate(engine)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes
    app.extensions[EXTENSION] = Services(
        settings=settings,
        engine=engine,
        storage=storage or open_storage(settings.resolved_storage_url, settings.s3_endpoint_url, settings.s3_region),
        signer=signer,
        admin_token_sha256=hash_token(admin_token),
        spool=settings.state_dir / "spool",
    )
    app.register_blueprint(admin, url_prefix=API_PREFIX)
    app.register_blueprint(device_api, url_prefix=API_PREFIX)
    app.register_blueprint(data_api, url_prefix=API_PREFIX)
    app.register_blueprint(jobs_api, url_prefix=API_PREFIX)
    app.register_blueprint(page)
    _register_errors(app)

    @app.get("/livez")
    def livez() -> Response:
        """The process answers."""
        return Response("ok\n", mimetype="text/plain")

    @app.get("/readyz")
    def readyz() -> Response:
        """The database answers."""
        if not healthy(app):
            return Response("database unavailable\n", 503, mimetype="text/plain")
        return Response("ok\n", mimetype="text/plain")

    log.info("cloud-sync app ready (fleet key %s)", signer.key_id)
    return app


def services_of(app: Flask) -> Services:
    """The services an app was built with."""
    found: Services = app.extensions[EXTENSION]
    return found


def healthy(app: Flask) -> bool:
    """Whether the app's database answers (readiness, systemd watchdog)."""
    found: Services = app.extensions[EXTENSION]
    try:
        with found.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        log.warning("not healthy: %s", exc)
        return False
    return True


def dispose(app: Flask) -> None:
    """Close the app's database connections (tests, shutdown)."""
    found: Services = app.extensions[EXTENSION]
    found.engine.dispose()

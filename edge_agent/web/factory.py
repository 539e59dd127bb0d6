"""create_app: the status page, JSON API, /metrics, /livez and /readyz as one Flask app over a StatusView."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence

from flask import Blueprint, Flask, Response, jsonify, render_template, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector
from werkzeug.exceptions import HTTPException

from edge_agent.web.api import api_blueprint
from edge_agent.web.auth import AUTO_REFRESH_HEADER, CSRF_HEADER, Guard, csrf_token
from edge_agent.web.metrics import metrics_registry
from edge_agent.web.settings import Credentials, WebSettings, load_credentials
from edge_agent.web.view import StatusView

log = logging.getLogger(__name__)
# no inline script or style anywhere, so the policy can stay this strict; data: only for tiny images
CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: under no-referrer browsers send "Origin: null" on form posts (login, logout)
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def _secure_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if not request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"  # live data and session pages are never cached
    return response


def _http_error(error: HTTPException) -> Response | HTTPException:
    """JSON errors for the API and /metrics; the plain default page elsewhere (it carries no detail)."""
    if request.path.startswith("/api/") or request.path == "/metrics":
        response = jsonify(error=error.description or error.name)
        response.status_code = error.code or 500
        return response
    return error


def create_app(
    view: StatusView,
    settings: WebSettings,
    *,
    environ: Mapping[str, str] | None = None,
    credentials: Credentials | None = None,
    clock: Callable[[], float] = time.time,
    collectors: Sequence[Collector] = (),
    blueprints: Sequence[Blueprint] = (),
) -> Flask:
    """The status page app; secrets are read from settings (and $CREDENTIALS_DIRECTORY) now, not at import."""
    creds = credentials or load_credentials(settings, os.environ if environ is None else environ)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=creds.secret_key,
        SESSION_COOKIE_NAME="edge_agent_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=settings.cookie_secure,
        MAX_CONTENT_LENGTH=64 * 1024,  # labels and logins are tiny; refuse anything bigger early
        JSON_SORT_KEYS=False,
    )
    guard = Guard(settings, creds, clock)
    guard.install(app)
    app.register_blueprint(api_blueprint(view, settings.refresh_s))
    for blueprint in blueprints:  # other services' pages behind the same login (line performance)
        app.register_blueprint(blueprint)
    app.after_request(_secure_headers)
    app.register_error_handler(HTTPException, _http_error)
    registry = metrics_registry(view)
    for collector in collectors:  # other services' families (the inference API) on the same /metrics
        registry.register(collector)

    @app.get("/")
    def index() -> str:
        """The live status page (filled in by static/status.js from the JSON API)."""
        identity = view.identity()
        return render_template(
            "index.html",
            csrf=csrf_token(),
            csrf_header=CSRF_HEADER,
            refresh_header=AUTO_REFRESH_HEADER,
            refresh_ms=int(settings.refresh_s * 1000),
            gateway=identity.gateway,
            agent_version=identity.agent_version,
            login_required=settings.login_required,
            line_page="line" in app.blueprints,  # the line section polls only when the agent has a line
        )

    @app.get("/livez")
    def livez() -> Response:
        """The process is alive and serving HTTP."""
        return jsonify(status="alive")

    @app.get("/readyz")
    def readyz() -> tuple[Response, int]:
        """200 when the broker is connected and every model is loaded; 503 with the reasons otherwise."""
        readiness = view.readiness()
        status = "ready" if readiness.ready else "not ready"
        return jsonify(status=status, reasons=readiness.reasons), 200 if readiness.ready else 503

    @app.get("/metrics")
    def metrics() -> Response:
        """Prometheus text format from the app's own registry."""
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

    log.info("status page ready (login %s)", "required" if settings.login_required else "off: loopback only")
    return app

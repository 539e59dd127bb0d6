"""Login, idle-expiring sessions, CSRF tokens and per-address lockout for the status page.

Rules: bound to loopback, no login (but the Host header must name loopback, against DNS rebinding). Bound
elsewhere, every page and API needs a login except /livez, /readyz, /static and the login page itself;
/metrics accepts a login or the metrics bearer token. Every POST needs the session's CSRF token. Requests
the page's poller marks with `X-Auto-Refresh` do not count as activity, so an unattended page logs out.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
from collections.abc import Callable
from urllib.parse import urlsplit

from flask import Flask, Response, jsonify, redirect, render_template, request, session, url_for
from werkzeug.security import check_password_hash, generate_password_hash
from werkzeug.wrappers import Response as HttpResponse

from edge_agent.web.settings import Credentials, WebSettings, is_loopback

log = logging.getLogger(__name__)
PUBLIC_PATHS = ("/livez", "/readyz", "/login")
AUTO_REFRESH_HEADER = "X-Auto-Refresh"
CSRF_HEADER = "X-CSRF-Token"
_MAX_TRACKED_ADDRESSES = 4096


def hash_password(password: str) -> str:
    """A werkzeug scrypt hash for web.password_hash."""
    return generate_password_hash(password, method="scrypt")


class LoginThrottle:
    """Counts failed logins per client address; N failures within the window lock the address out."""

    def __init__(self, max_failures: int, window_s: float, clock: Callable[[], float]) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[str, list[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def locked_for(self, address: str) -> float:
        """Seconds until the address may try again (0 when it may now)."""
        with self._lock:
            return max(0.0, self._locked_until.get(address, 0.0) - self._clock())

    def failure(self, address: str) -> bool:
        """Record a failure; True when it locked the address out."""
        now = self._clock()
        with self._lock:
            recent = [t for t in self._failures.get(address, []) if now - t < self.window_s] + [now]
            self._failures[address] = recent
            if len(self._failures) > _MAX_TRACKED_ADDRESSES:  # bound memory against address spraying
                self._prune(now)
            if len(recent) >= self.max_failures:
                self._locked_until[address] = now + self.window_s
                self._failures.pop(address, None)
                return True
            return False

    def success(self, address: str) -> None:
        """Forget an address's failures."""
        with self._lock:
            self._failures.pop(address, None)

    def _prune(self, now: float) -> None:
        self._failures = {a: ts for a, ts in self._failures.items() if now - ts[-1] < self.window_s}
        self._locked_until = {a: t for a, t in self._locked_until.items() if t > now}


def csrf_token() -> str:
    """The session's CSRF token, created on first use."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def _csrf_ok() -> bool:
    expected = session.get("csrf")
    given = request.headers.get(CSRF_HEADER) or request.form.get("csrf_token") or ""
    return isinstance(expected, str) and hmac.compare_digest(expected.encode(), given.encode())


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/metrics"


def _refuse(status: int, message: str) -> Response:
    response = jsonify(error=message) if _wants_json() else Response(message + "\n", mimetype="text/plain")
    response.status_code = status
    return response


def _safe_next(target: str | None) -> str:
    """Only same-site paths, so the login form cannot be used as an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


class Guard:
    """Installs the login pages and the checks every request passes."""

    def __init__(self, settings: WebSettings, credentials: Credentials, clock: Callable[[], float]) -> None:
        self.settings = settings
        self.credentials = credentials
        self.clock = clock
        self.throttle = LoginThrottle(settings.login_max_failures, settings.lockout_s, clock)

    def install(self, app: Flask) -> None:
        """Register the before-request check and the /login and /logout routes."""
        app.before_request(self.check)
        app.add_url_rule("/login", "login", self.login, methods=["GET", "POST"])
        app.add_url_rule("/logout", "logout", self.logout, methods=["POST"])

    def authenticated(self) -> bool:
        """True when the session holds a login that has not expired (idle or absolute)."""
        if session.get("auth") is not True:
            return False
        now = self.clock()
        seen, login_at = session.get("seen", 0.0), session.get("login_at", 0.0)
        if now - seen > self.settings.session_idle_s or now - login_at > self.settings.session_max_s:
            session.clear()
            return False
        return True

    def _metrics_token_ok(self) -> bool:
        token = self.credentials.metrics_token
        header = request.headers.get("Authorization", "")
        if token is None or not header.startswith("Bearer "):
            return False
        return hmac.compare_digest(header[len("Bearer ") :].encode(), token.encode())

    def check(self) -> HttpResponse | None:
        """Host, CSRF and login checks; None lets the request through."""
        if not self.settings.login_required and not is_loopback(urlsplit(f"//{request.host}").hostname or ""):
            return _refuse(421, "this status page only answers to localhost")
        if request.method == "POST":
            origin = request.headers.get("Origin")
            if origin and urlsplit(origin).netloc != request.host:
                return _refuse(403, "cross-origin request refused")
            if not _csrf_ok():
                return _refuse(403, "missing or wrong CSRF token")
        path = request.path
        if not self.settings.login_required or path in PUBLIC_PATHS or path.startswith("/static/"):
            return None
        if path == "/metrics" and self._metrics_token_ok():
            return None
        if not self.authenticated():
            if _wants_json():
                return _refuse(401, "login required")
            return redirect(url_for("login", next=request.full_path.rstrip("?")))
        if not request.headers.get(AUTO_REFRESH_HEADER):
            session["seen"] = self.clock()
        return None

    def login(self) -> HttpResponse | str | tuple[str, int]:
        """The login form (GET) and password check (POST, CSRF-checked before it gets here)."""
        if not self.settings.login_required:
            return redirect("/")
        target = _safe_next(request.values.get("next"))
        if request.method == "GET":
            return render_template("login.html", csrf=csrf_token(), next=target, error=None)
        address = request.remote_addr or "unknown"
        wait = self.throttle.locked_for(address)
        if wait > 0:
            message = f"Too many failed logins from your address. Try again in {int(wait) + 1} s."
            return render_template("login.html", csrf=csrf_token(), next=target, error=message), 429
        password = request.form.get("password", "")
        hashed = self.credentials.password_hash
        if hashed is None or not check_password_hash(hashed, password):
            locked = self.throttle.failure(address)
            log.warning("failed status page login from %s%s", address, " (now locked out)" if locked else "")
            status = 429 if locked else 401
            message = "Too many failed logins; locked out for a while." if locked else "Wrong password."
            return render_template("login.html", csrf=csrf_token(), next=target, error=message), status
        self.throttle.success(address)
        now = self.clock()
        session.clear()  # a fresh session (and CSRF token) at login, against session fixation
        session.update(auth=True, login_at=now, seen=now, csrf=secrets.token_urlsafe(32))
        log.info("status page login from %s", address)
        return redirect(target)

    def logout(self) -> HttpResponse:
        """End the session."""
        session.clear()
        if not self.settings.login_required:
            return redirect("/")
        return redirect(url_for("login"))

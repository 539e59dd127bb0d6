"""The REST front end: /v2 routes over a threaded stdlib HTTP server (keep-alive, optional TLS)."""

from __future__ import annotations

import json
import logging
import re
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from edge_agent.api.guard import ApiMetrics, Guard
from edge_agent.api.http_codec import HEADER_LENGTH, encode_infer, parse_infer
from edge_agent.api.inference import InferenceService
from edge_agent.api.tensors import ApiError, Status
from edge_agent.errors import ConfigError

log = logging.getLogger(__name__)
_MODEL = re.compile(r"^/v2/models/([^/]+)(?:/versions/([^/]+))?(/ready|/infer)?$")
_PUBLIC = ("/v2/health/live", "/v2/health/ready")
DRAIN_LIMIT = 256 * 1024 * 1024
READ_TIMEOUT_S = 30.0


class HttpFrontEnd:
    """Routes one HTTP request to the inference service, maps errors to status codes and counts every call."""

    def __init__(self, service: InferenceService, guard: Guard, metrics: ApiMetrics, max_request_bytes: int) -> None:
        self.service = service
        self.guard = guard
        self.metrics = metrics
        self.max_request_bytes = max_request_bytes

    def handle(self, handler: _Handler, method: str) -> None:
        """Answer one request on the handler's connection."""
        started = time.perf_counter()
        path = handler.path.split("?", 1)[0].rstrip("/") or "/"
        match = _MODEL.match(path)
        model = match.group(1) if match else ""
        status, body, headers = Status.OK, b"", {"Content-Type": "application/json"}
        try:
            if path not in _PUBLIC:
                self.guard.check_token(handler.headers.get("Authorization"))
            with self.guard.client_slot(handler.client_address[0]):
                status, body, extra = self._route(handler, method, path, match)
                headers.update(extra)
        except ApiError as exc:
            status = exc.status
            body = json.dumps({"error": str(exc)}).encode()
        except Exception as exc:  # a bug answers 500 with its reason and the server keeps serving
            log.exception("API request %s %s failed", method, path)
            status, body = Status.INTERNAL, json.dumps({"error": f"internal error: {exc}"}).encode()
        handler.reply(status.http, body, headers)
        self.metrics.count(model, self.service.catalog.names(), "http", str(status.http), started)

    def _route(
        self, handler: _Handler, method: str, path: str, match: re.Match[str] | None
    ) -> tuple[Status, bytes, dict[str, str]]:
        service = self.service
        if method == "POST" and match and match.group(3) == "/infer":
            body = self._body(handler)
            request, binary = parse_infer(
                body, handler.headers.get(HEADER_LENGTH), match.group(1), match.group(2) or ""
            )
            content, json_size = encode_infer(service.infer(request), binary)
            if json_size is None:
                return Status.OK, content, {}
            return Status.OK, content, {HEADER_LENGTH: str(json_size), "Content-Type": "application/octet-stream"}
        if method == "POST" and path == "/v2/repository/index":
            self._body(handler)
            return Status.OK, _json(service.catalog.index()), {}
        if method != "GET":
            raise ApiError(Status.NOT_FOUND, f"no route {method} {path}")
        if path == "/v2":
            return Status.OK, _json(service.server_metadata()), {}
        if path == "/v2/health/live":
            return Status.OK, _json({"live": True}), {}
        if path == "/v2/health/ready":
            ready = service.ready()
            return Status.OK if ready else Status.UNAVAILABLE, _json({"ready": ready}), {}
        if path == "/v2/repository/index":
            return Status.OK, _json(service.catalog.index()), {}
        if match and match.group(3) == "/ready":
            ready = service.model_ready(match.group(1), match.group(2) or "")
            return Status.OK, _json({"name": match.group(1), "ready": ready}), {}
        if match and match.group(3) is None:
            return Status.OK, _json(service.model_metadata(match.group(1), match.group(2) or "")), {}
        raise ApiError(Status.NOT_FOUND, f"no route GET {path}")

    def _body(self, handler: _Handler) -> bytes:
        length_header = handler.headers.get("Content-Length")
        if length_header is None:
            handler.close_connection = True
            raise ApiError(Status.INVALID, "a request body needs a Content-Length header")
        try:
            length = int(length_header)
        except ValueError as exc:
            handler.close_connection = True
            raise ApiError(Status.INVALID, f"Content-Length {length_header!r} is not an integer") from exc
        if length > self.max_request_bytes:
            handler.drain(length)
            raise ApiError(Status.TOO_LARGE, f"request body of {length} bytes exceeds {self.max_request_bytes}")
        body = handler.rfile.read(length)
        if len(body) != length:
            handler.close_connection = True
            raise ApiError(Status.INVALID, f"request body ended after {len(body)} of {length} bytes")
        return body


def _json(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


class _Handler(BaseHTTPRequestHandler):
    """One connection; HTTP/1.1 keep-alive so clients reuse it."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # answers go out at once instead of waiting on the client's delayed ACK
    server: _Server
    timeout = READ_TIMEOUT_S

    def do_GET(self) -> None:
        self.server.front.handle(self, "GET")

    def do_POST(self) -> None:
        self.server.front.handle(self, "POST")

    def reply(self, code: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(code)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def drain(self, length: int) -> None:
        """Read and drop a refused body, so the client reads our answer instead of a reset; close afterwards."""
        self.close_connection = True
        if length > DRAIN_LIMIT:
            return
        left = length
        while left > 0:
            chunk = self.rfile.read(min(left, 1 << 20))
            if not chunk:
                return
            left -= len(chunk)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    front: HttpFrontEnd


class HttpServer:
    """The REST endpoint on its own thread; bound at construction so a taken port stops start-up."""

    def __init__(self, front: HttpFrontEnd, host: str, port: int, tls: ssl.SSLContext | None) -> None:
        try:
            self._server = _Server((host, port), _Handler)
        except OSError as exc:
            raise ConfigError(
                f"api.host/api.http_port: cannot listen on {host}:{port} ({exc.strerror or exc})"
            ) from exc
        self._server.front = front
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.host, self.port = str(self._server.server_address[0]), int(self._server.server_address[1])
        self.scheme = "https" if tls is not None else "http"
        self._thread = threading.Thread(target=self._server.serve_forever, name="api-http", daemon=True)

    @property
    def url(self) -> str:
        """Base URL."""
        return f"{self.scheme}://{self.host}:{self.port}"

    def start(self) -> None:
        """Serve on a daemon thread."""
        self._thread.start()
        log.info("Open Inference Protocol REST on %s", self.url)

    def stop(self) -> None:
        """Stop accepting and close the socket."""
        self._server.shutdown()
        self._server.server_close()

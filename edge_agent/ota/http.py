"""A one-method HTTP transport (urllib, no extra dependency) and the cloud error tree."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from edge_agent.errors import EdgeAgentError


class CloudError(EdgeAgentError):
    """Talking to cloud-sync failed."""


class CloudUnavailable(CloudError):
    """No answer, a dropped connection or a 5xx: try again later."""


class CloudRejected(CloudError):
    """cloud-sync answered 4xx: retrying the same request will not help."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status


class DownloadError(CloudError):
    """The server sent something a download cannot accept (wrong range, too many bytes, bad digest)."""


@dataclass
class HttpResponse:
    """Status, lower-cased headers and a body read in chunks."""

    status: int
    headers: dict[str, str]
    chunks: Iterator[bytes] = field(default_factory=lambda: iter(()))

    def read_all(self, limit: int = 16 * 1024 * 1024) -> bytes:
        """The whole body, refusing more than limit bytes."""
        parts, size = [], 0
        for chunk in self.chunks:
            size += len(chunk)
            if size > limit:
                raise CloudError(f"response body larger than {limit} bytes")
            parts.append(chunk)
        return b"".join(parts)

    def json(self) -> Any:
        """The body as JSON."""
        try:
            return json.loads(self.read_all())
        except ValueError as exc:
            raise CloudError(f"response is not JSON ({exc})") from exc


class Transport(Protocol):
    """Sends one request; raises CloudUnavailable for network failures; never raises for HTTP statuses."""

    def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None = None, timeout: float = 30.0
    ) -> HttpResponse:
        """Send a request and return the response with a streaming body."""
        ...


def _stream(response: http.client.HTTPResponse, chunk_size: int) -> Iterator[bytes]:
    try:
        while True:
            try:
                chunk = response.read(chunk_size)
            except (OSError, http.client.HTTPException) as exc:
                raise CloudUnavailable(f"connection lost while reading: {exc}") from exc
            if not chunk:
                return
            yield chunk
    finally:
        response.close()


class UrllibTransport:
    """The production transport: urllib with proxies from the environment, TLS verified."""

    def __init__(self, chunk_size: int = 64 * 1024) -> None:
        self.chunk_size = chunk_size

    def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None = None, timeout: float = 30.0
    ) -> HttpResponse:
        """Send a request with urllib."""
        request = urllib.request.Request(url, data=body, method=method, headers=dict(headers))
        try:
            response = urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as exc:
            return HttpResponse(exc.code, {k.lower(): v for k, v in exc.headers.items()}, iter([exc.read()]))
        except (TimeoutError, urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            raise CloudUnavailable(f"{method} {url}: {exc}") from exc
        headers_out = {k.lower(): v for k, v in response.headers.items()}
        return HttpResponse(response.status, headers_out, _stream(response, self.chunk_size))

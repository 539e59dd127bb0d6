"""Resumable artifact download: HTTP Range from a .part file, strict Content-Range checks, byte caps."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from edge_agent.ota.http import CloudRejected, CloudUnavailable, DownloadError, Transport

log = logging.getLogger(__name__)
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


@dataclass(frozen=True)
class DownloadLimits:
    """Guards against servers that trickle, over-send or lie."""

    max_attempt_ratio: float = 1.2
    min_rate_bytes_s: float = 1024.0
    rate_grace_s: float = 10.0
    timeout_s: float = 30.0


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _check_range(header: str | None, offset: int, size: int) -> None:
    match = _CONTENT_RANGE.match(header or "")
    if not match:
        raise DownloadError(f"206 with an unusable Content-Range {header!r}")
    start, end, total = match.groups()
    if int(start) != offset:
        raise DownloadError(f"asked for bytes from {offset}, server sent from {start}")
    if total != "*" and int(total) != size:
        raise DownloadError(f"server says the artifact is {total} bytes; the offer says {size}")
    if int(end) >= size:
        raise DownloadError(f"server range ends at byte {end}, past the artifact's {size} bytes")


def download_artifact(
    transport: Transport,
    url: str,
    headers: Mapping[str, str],
    destination: Path,
    size: int,
    sha256: str,
    limits: DownloadLimits | None = None,
) -> int:
    """One attempt to complete `destination` (resuming its .part); returns bytes transferred.

    Raises CloudUnavailable (try again later, progress kept) or DownloadError (bad data, .part removed).
    """
    limits = limits or DownloadLimits()
    part = destination.with_name(destination.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    if offset > size:
        part.unlink()
        offset = 0
    transferred = 0
    if offset < size:
        request_headers = dict(headers)
        if offset:
            request_headers["Range"] = f"bytes={offset}-"
        response = transport.request("GET", url, request_headers, timeout=limits.timeout_s)
        if response.status == 416 and offset:
            part.unlink()
            raise CloudUnavailable("server refused the resume range; starting over on the next attempt")
        if response.status == 200:
            offset = 0  # the server ignored Range: the body is the whole artifact
        elif response.status == 206:
            _check_range(response.headers.get("content-range"), offset, size)
        elif response.status >= 500:
            raise CloudUnavailable(f"artifact download: HTTP {response.status}")
        else:
            raise CloudRejected(response.status, f"artifact download refused: {response.read_all(4096)!r}")
        allowed = min(size - offset, int(size * limits.max_attempt_ratio))
        started = time.monotonic()
        with part.open("r+b" if offset else "wb") as handle:
            handle.seek(offset)
            handle.truncate()
            for chunk in response.chunks:
                transferred += len(chunk)
                if transferred > allowed:
                    handle.close()
                    part.unlink()
                    raise DownloadError(f"server sent more than the {size - offset} bytes left of the artifact")
                handle.write(chunk)
                elapsed = time.monotonic() - started
                if elapsed > limits.rate_grace_s and transferred / elapsed < limits.min_rate_bytes_s:
                    handle.flush()
                    os.fsync(handle.fileno())
                    raise CloudUnavailable(f"download too slow ({transferred / elapsed:.0f} B/s); will resume")
            handle.flush()
            os.fsync(handle.fileno())
        if offset + transferred < size:
            raise CloudUnavailable(f"connection ended at byte {offset + transferred} of {size}; will resume")
    digest = _sha256(part)
    if digest != sha256:
        part.unlink()
        raise DownloadError(f"artifact sha256 {digest[:16]}... does not match the offer; discarded")
    os.replace(part, destination)
    log.info("downloaded %s (%d bytes this attempt)", destination.name, transferred)
    return transferred

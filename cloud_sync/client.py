"""HTTP client of the CLI (urllib only), the upload progress line and the package tar builder."""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

from cloud_sync.errors import ClientError

log = logging.getLogger(__name__)


def _size(count: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} B"


class ProgressLine:
    """A one-line progress bar on stderr; redrawn in place on a terminal, printed once when done otherwise."""

    def __init__(self, label: str, total: int, stream: IO[str] | None = None, width: int = 30) -> None:
        self.label = label
        self.total = max(total, 1)
        self.stream = stream or sys.stderr
        self.width = width
        self._last = 0.0
        self._live = self.stream.isatty()

    def _line(self, done: int) -> str:
        share = min(done / self.total, 1.0)
        filled = int(share * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        return f"{self.label} [{bar}] {share:4.0%} {_size(done)} of {_size(self.total)}"

    def update(self, done: int) -> None:
        """Redraw (at most ten times a second) on a terminal."""
        now = time.monotonic()
        if self._live and (now - self._last >= 0.1 or done >= self.total):
            self._last = now
            self.stream.write("\r" + self._line(done))
            self.stream.flush()

    def finish(self, done: int) -> None:
        """The final state of the bar and a newline."""
        self.stream.write(("\r" if self._live else "") + self._line(done) + "\n")
        self.stream.flush()


class _ProgressReader:
    """A file wrapper that reports how many bytes http.client has read for sending."""

    def __init__(self, handle: IO[bytes], progress: ProgressLine) -> None:
        self._handle = handle
        self._progress = progress
        self.sent = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._handle.read(size)
        self.sent += len(chunk)
        self._progress.update(self.sent)
        return chunk


def build_package_tar(package_dir: Path, out: Path) -> tuple[str, str]:
    """Tar PACKAGE_DIR's files as NAME/VERSION/ (names from its manifest); returns name and version."""
    try:
        manifest = json.loads((package_dir / "manifest.json").read_text(encoding="utf-8"))
        name, version = str(manifest["name"]), str(manifest["version"])
    except FileNotFoundError as exc:
        raise ClientError(f"{package_dir}: no manifest.json; PACKAGE_DIR is a NAME/VERSION/ directory") from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ClientError(f"{package_dir / 'manifest.json'}: cannot read name and version ({exc})") from exc
    entries = sorted(package_dir.iterdir())
    for entry in entries:
        if entry.is_symlink() or not entry.is_file():
            raise ClientError(f"{entry}: not a regular file; a package holds regular files only")
    try:
        with tarfile.open(out, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for entry in entries:
                info = tarfile.TarInfo(f"{name}/{version}/{entry.name}")
                info.size, info.mode, info.mtime = entry.stat().st_size, 0o644, int(entry.stat().st_mtime)
                with entry.open("rb") as handle:
                    tar.addfile(info, handle)
    except (OSError, tarfile.TarError) as exc:
        raise ClientError(f"{package_dir}: cannot pack the package ({exc})") from exc
    return name, version


class ApiClient:
    """Calls cloud-sync's admin API with a bearer token; every failure is a ClientError with a clear message."""

    def __init__(self, base_url: str, token: str, timeout: float = 120.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _send(self, request: urllib.request.Request) -> tuple[int, bytes]:
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Accept", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            raise _refused(exc) from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ClientError(f"cannot reach cloud-sync at {self.base_url}: {reason}") from exc

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One JSON request; returns the decoded answer (None for an empty one)."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.base_url}/api/v1{path}", data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        _, answer = self._send(request)
        return _decode(answer)

    def download(self, path: str, out: IO[bytes]) -> str:
        """GET a path and stream the body into out in chunks (never all in memory); returns its sha256."""
        request = urllib.request.Request(f"{self.base_url}/api/v1{path}", method="GET")
        request.add_header("Authorization", f"Bearer {self.token}")
        digest = hashlib.sha256()
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                while chunk := response.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
        except urllib.error.HTTPError as exc:
            raise _refused(exc) from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ClientError(f"cannot reach cloud-sync at {self.base_url}: {reason}") from exc
        return digest.hexdigest()

    def upload(self, path: str, file: Path, progress: ProgressLine) -> tuple[int, Any]:
        """POST a file as application/x-tar, reporting progress; returns status and decoded answer."""
        size = file.stat().st_size
        with file.open("rb") as handle:
            reader = _ProgressReader(handle, progress)
            request = urllib.request.Request(
                f"{self.base_url}/api/v1{path}",
                data=reader,  # http.client streams any object with read()
                method="POST",
                headers={"Content-Type": "application/x-tar", "Content-Length": str(size)},
            )
            try:
                status, answer = self._send(request)
            except ClientError as exc:
                cause = getattr(exc.__cause__, "reason", exc.__cause__)
                if isinstance(cause, (BrokenPipeError, ConnectionResetError)):
                    # Servers refuse oversized bodies by closing the connection before reading them all.
                    raise ClientError(
                        f"{exc}; the service closed the connection during the upload: the package "
                        f"({size} bytes) may exceed its max_upload_bytes"
                    ) from exc
                raise
        progress.finish(reader.sent)
        return status, _decode(answer)


def _decode(answer: bytes) -> Any:
    if not answer:
        return None
    try:
        return json.loads(answer)
    except ValueError as exc:
        raise ClientError(f"cloud-sync answered something that is not JSON: {answer[:200]!r}") from exc


def _refused(exc: urllib.error.HTTPError) -> ClientError:
    body = exc.read()
    try:
        document = json.loads(body)
        code, detail = document.get("error"), document.get("detail")
    except (ValueError, AttributeError):
        code, detail = None, body.decode("utf-8", "replace")[:300]
    hint = {401: " (check --token / CLOUD_SYNC_ADMIN_TOKEN)", 403: " (this needs the admin token)"}.get(exc.code, "")
    return ClientError(f"HTTP {exc.code} {code or exc.reason}: {detail}{hint}", status=exc.code, code=code)

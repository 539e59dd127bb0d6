"""Baseline files on disk: one directory per asset, JSON written atomically, operator requests as files."""

from __future__ import annotations

import json
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_agent.errors import EdgeAgentError

log = logging.getLogger(__name__)
BASELINE_FILE = "baseline.json"
PROGRESS_FILE = "commissioning.json"
REQUESTS_DIR = "requests"
ACTIONS = ("reset", "finish")
_ASSET = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class BaselineFileError(EdgeAgentError):
    """A baseline file exists but cannot be read as the JSON object it should hold."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


@dataclass(frozen=True)
class BaselineRequest:
    """An operator command left for the running agent (`edge-agent baseline reset|finish ASSET`)."""

    asset: str
    action: str
    by: str
    ts_ms: int
    path: Path


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_atomic(path: Path, document: dict[str, Any]) -> None:
    """Temporary file, fsync, rename, fsync of the directory: a crash leaves the old or the new file, whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(document, handle, separators=(",", ":"))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    _fsync_dir(path.parent)


class BaselineStore:
    """Reads and writes the baseline and commissioning files of every asset under one directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _asset_dir(self, asset: str) -> Path:
        if not _ASSET.match(asset):  # asset ids come from the config pattern; never let one name a path elsewhere
            raise EdgeAgentError(f"invalid asset id {asset!r}")
        return self.directory / asset

    def path(self, asset: str, name: str) -> Path:
        """The file `name` (baseline.json or commissioning.json) of an asset."""
        return self._asset_dir(asset) / name

    def read(self, asset: str, name: str) -> dict[str, Any] | None:
        """The file's JSON object, None when there is no file; BaselineFileError when it is unreadable."""
        path = self.path(asset, name)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise BaselineFileError(path, f"cannot read ({exc})") from exc
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise BaselineFileError(path, f"not JSON ({exc})") from exc
        if not isinstance(document, dict):
            raise BaselineFileError(path, "not a JSON object")
        return document

    def write(self, asset: str, name: str, document: dict[str, Any]) -> None:
        """Replace the file atomically."""
        write_json_atomic(self.path(asset, name), document)

    def remove(self, asset: str, name: str) -> None:
        """Delete the file if it exists."""
        path = self.path(asset, name)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        _fsync_dir(path.parent)

    def move_aside(self, asset: str, name: str) -> Path | None:
        """Rename a bad file to NAME.corrupt-<ms> (kept for a post-mortem); returns the new path."""
        path = self.path(asset, name)
        target = path.with_name(f"{name}.corrupt-{int(time.time() * 1000)}")
        try:
            os.replace(path, target)
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.error("cannot move %s aside (%s); removing it", path, exc)
            path.unlink(missing_ok=True)
            return None
        return target

    def request(self, asset: str, action: str, by: str) -> Path:
        """Leave a command for the running agent (it polls every few seconds; a stopped one applies it at start)."""
        if action not in ACTIONS:
            raise EdgeAgentError(f"unknown baseline action {action!r}")
        self._asset_dir(asset)
        path = self.directory / REQUESTS_DIR / f"{asset}.{action}.json"
        write_json_atomic(path, {"asset": asset, "action": action, "by": by, "ts_ms": int(time.time() * 1000)})
        return path

    def pending(self) -> list[BaselineRequest]:
        """Requests waiting, oldest first; unreadable ones are removed and logged."""
        folder = self.directory / REQUESTS_DIR
        if not folder.is_dir():
            return []
        requests = []
        for path in folder.glob("*.json"):
            try:
                document = json.loads(path.read_text(encoding="utf-8"))
                request = BaselineRequest(
                    str(document["asset"]), str(document["action"]), str(document["by"]), int(document["ts_ms"]), path
                )
                self._asset_dir(request.asset)
            except (OSError, ValueError, KeyError, TypeError, EdgeAgentError) as exc:
                log.warning("ignoring unreadable baseline request %s: %s", path, exc)
                path.unlink(missing_ok=True)
                continue
            requests.append(request)
        return sorted(requests, key=lambda r: (r.ts_ms, r.path.name))

    def done(self, request: BaselineRequest) -> None:
        """Remove a request once applied."""
        request.path.unlink(missing_ok=True)

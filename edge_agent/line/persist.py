"""The line timeline on disk: one JSON file written atomically, so a restart mid-shift resumes its totals."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from edge_agent.errors import EdgeAgentError

log = logging.getLogger(__name__)
FORMAT = 1


class LineStateError(EdgeAgentError):
    """The saved line state cannot be read or written."""


class LineStateFile:
    """Saves and loads {"format", "units": {id: timeline}, "shift", "history"} next to the result store."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def save(self, document: dict[str, Any]) -> None:
        """Write to a temporary file, fsync it, rename it over the old one: never a half-written state."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".tmp{os.getpid()}")
        try:
            with tmp.open("w", encoding="utf-8") as handle:
                json.dump({"format": FORMAT, **document}, handle, separators=(",", ":"))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            raise LineStateError(f"cannot save line state to {self.path}: {exc}") from exc

    def load(self) -> dict[str, Any] | None:
        """The saved state, None when there is none; a corrupt file is moved aside and reported as an error."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise LineStateError(f"cannot read line state {self.path}: {exc}") from exc
        try:
            document = json.loads(text)
            if not isinstance(document, dict) or document.get("format") != FORMAT:
                raise ValueError("not a line state document of format 1")
        except ValueError as exc:
            aside = self.path.with_suffix(".corrupt")
            os.replace(self.path, aside)
            raise LineStateError(f"line state {self.path} is corrupt ({exc}); moved to {aside}") from exc
        return document

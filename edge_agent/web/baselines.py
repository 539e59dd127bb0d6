"""The status page's side of per-asset baselines: what it reads of the manager and the operator's reset/finish."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Protocol

from edge_agent.errors import EdgeAgentError
from edge_agent.web.snapshot import BaselineInfo

log = logging.getLogger(__name__)
ACTIONS = ("reset", "finish")
_FIELDS = {f.name for f in dataclasses.fields(BaselineInfo)}


class BaselineRejected(EdgeAgentError):
    """An operator's baseline command cannot apply (unknown asset, too few windows to finish, baselines off)."""


class BaselineControl(Protocol):
    """What the page needs of the baseline manager (edge_agent.baseline.manager.BaselineManager has it)."""

    def describe(self) -> list[dict[str, Any]]:
        """Every asset's baseline as JSON-ready dicts."""

    def apply(self, asset: str, action: str, by: str) -> str:
        """reset or finish one asset's baseline; returns what happened."""


def baseline_infos(control: BaselineControl | None) -> list[BaselineInfo]:
    """The manager's rows as page records (nothing when the agent has no baselines)."""
    if control is None:
        return []
    try:
        rows = control.describe()
    except Exception as exc:  # the page shows what it can; a manager problem is logged, not raised
        log.warning("cannot read baselines: %s", exc)
        return []
    return [BaselineInfo(**{k: v for k, v in row.items() if k in _FIELDS}) for row in rows]


def run_action(control: BaselineControl | None, asset: str, action: str, operator: str) -> str:
    """Apply an operator's command, turning every refusal into BaselineRejected."""
    if control is None:
        raise BaselineRejected("this agent keeps no baselines")
    if action not in ACTIONS:
        raise BaselineRejected(f"unknown baseline action {action!r}")
    try:
        return control.apply(asset, action, f"operator:{operator}")
    except EdgeAgentError as exc:
        raise BaselineRejected(str(exc)) from exc
    except OSError as exc:  # the baseline directory is unwritable: the operator should hear it, the agent go on
        raise BaselineRejected(f"cannot write the baseline files ({exc.strerror})") from exc

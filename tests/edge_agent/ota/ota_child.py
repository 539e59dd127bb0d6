"""A minimal gateway process for crash tests: recover, report what loaded, then run the updater."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from edge_agent.app import _pipeline_for
from edge_agent.model_manager import ModelManager
from edge_agent.ota.http import UrllibTransport
from edge_agent.ota.shadow import ShadowEvaluator
from edge_agent.ota.state import Offer, StateFile
from edge_agent.ota.updater import Updater, UpdaterSettings
from edge_agent.runtimes import RuntimeOptions
from edge_agent.signing import TrustedKeys


class _Probe:
    def model_counts(self, name: str) -> tuple[int, int]:
        return (0, 0)

    def model_p99_ms(self, ident: str) -> tuple[float, int]:
        return (0.0, 0)


def _crash_after(state: str) -> None:
    """Die by SIGKILL right after the updater persists `state` (a crash at exactly that point)."""
    original = StateFile.transition

    def transition(self: StateFile, offer: Offer, new_state: str, reason: str = "", **detail: object) -> dict:
        body = original(self, offer, new_state, reason, **detail)  # type: ignore[arg-type]
        if new_state == state:
            os.kill(os.getpid(), signal.SIGKILL)
        return body

    StateFile.transition = transition  # type: ignore[method-assign,assignment]


def main() -> int:
    models_dir, url, keys, name = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), sys.argv[4]
    if os.environ.get("OTA_CRASH_AFTER"):
        _crash_after(os.environ["OTA_CRASH_AFTER"])
    trusted = TrustedKeys.from_paths([keys])
    manager = ModelManager(models_dir, lambda path: _pipeline_for(path, trusted, RuntimeOptions()))
    settings = UpdaterSettings(base_url=url, device_id="gw-1", token="t", poll_s=0.05)
    updater = Updater(
        settings, UrllibTransport(chunk_size=4096), manager, trusted, ShadowEvaluator(), _Probe(), lambda *a, **k: None
    )
    updater.recover([name])
    updater.load_with_fallback(name)
    leftovers = [str(p.relative_to(models_dir)) for p in models_dir.rglob("*") if p.name.endswith((".tmp", ".part"))]
    staging = models_dir / ".ota" / "staging"
    print(
        json.dumps(
            {
                "event": "loaded",
                "version": manager.get(name).model.manifest.version,  # type: ignore[union-attr]
                "leftovers": leftovers,
                "staging": sorted(p.name for p in staging.iterdir()) if staging.exists() else [],
            }
        ),
        flush=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        updater.poll_once()
        updater.step()
        offer = updater.state.record.offers.get(name)
        if offer is not None and offer.state in ("committed", "rejected", "rolled_back"):
            print(json.dumps({"event": "done", "state": offer.state, "reason": offer.reason}), flush=True)
            return 0
        time.sleep(0.02)
    return 1


if __name__ == "__main__":
    sys.exit(main())

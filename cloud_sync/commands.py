"""CLI commands that talk to a running cloud-sync: publish, rollout, pause/resume, device add, status."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from cloud_sync.client import ApiClient, ProgressLine, build_package_tar
from cloud_sync.errors import ClientError


def publish(client: ApiClient, args: argparse.Namespace) -> int:
    """Tar PACKAGE_DIR and upload it with a progress line on stderr."""
    package_dir: Path = args.package_dir
    if not package_dir.is_dir():
        raise ClientError(f"{package_dir}: not a directory; PACKAGE_DIR is a NAME/VERSION/ package directory")
    with tempfile.TemporaryDirectory(prefix="cloud-sync-publish-") as work:
        archive = Path(work) / "package.tar"
        name, version = build_package_tar(package_dir, archive)
        progress = ProgressLine(f"uploading {name} {version}", archive.stat().st_size)
        status, answer = client.upload("/models", archive, progress)
    verb = "published" if status == 201 else "already published (identical)"
    print(
        f"{verb}: {answer['name']} {answer['version']}  artifact {answer['artifact_size']} bytes  "
        f"sha256 {answer['artifact_sha256']}  signed by {answer['signed_by']}"
    )
    return 0


def _waves(rollout: dict[str, Any]) -> str:
    parts = []
    for wave in rollout["waves"]:
        label = "canary" if wave["index"] == 0 else f"wave {wave['index']}"
        done = wave["counts"].get("committed", 0)
        failed = wave["counts"].get("rejected", 0) + wave["counts"].get("rolled_back", 0)
        state = "open" if wave["open"] else "waiting"
        parts.append(
            f"{label} {done}/{wave['devices']} committed" + (f", {failed} failed" if failed else "") + f" ({state})"
        )
    return "; ".join(parts)


def _rollout_line(rollout: dict[str, Any]) -> str:
    reason = f" - {rollout['reason']}" if rollout["reason"] else ""
    return (
        f"rollout {rollout['id']}: {rollout['model']} {rollout['version']} -> group {rollout['group']}: "
        f"{rollout['state']}{reason}\n  {_waves(rollout)}"
    )


def rollout(client: ApiClient, args: argparse.Namespace) -> int:
    """Start a rollout and print its waves."""
    body: dict[str, Any] = {
        "model": args.model,
        "version": args.version,
        "group": args.group,
        "canary_percent": args.canary,
        "wave_percent": args.wave,
        "failure_threshold": args.failure_threshold,
        "probation_s": args.probation,
        "shadow": {} if args.shadow else None,
    }
    print(_rollout_line(client.call("POST", "/rollouts", body)))
    return 0


def pause(client: ApiClient, args: argparse.Namespace) -> int:
    """Pause a rollout."""
    print(_rollout_line(client.call("POST", f"/rollouts/{args.rollout_id}/pause")))
    return 0


def resume(client: ApiClient, args: argparse.Namespace) -> int:
    """Resume a paused rollout."""
    print(_rollout_line(client.call("POST", f"/rollouts/{args.rollout_id}/resume")))
    return 0


def device_add(client: ApiClient, args: argparse.Namespace) -> int:
    """Provision a device and print its token (stdout, alone, for scripts)."""
    answer = client.call("POST", "/devices", {"id": args.device_id, "group": args.group})
    print(f"device {answer['id']} added to group {answer['group']}; its token is shown only now:", file=sys.stderr)
    print(answer["token"])
    return 0


def status(client: ApiClient, args: argparse.Namespace) -> int:
    """Models, devices and rollouts, as text (or the raw JSON with --json)."""
    models = client.call("GET", "/models")
    devices = client.call("GET", "/devices")
    rollouts = client.call("GET", "/rollouts")
    if args.json:
        print(json.dumps({"models": models, "devices": devices, "rollouts": rollouts}, indent=2))
        return 0
    print(f"models ({len(models)}):")
    for model in models:
        print(
            f"  {model['name']} {model['version']}  {model['task']} {model['runtime']}  {model['artifact_size']} bytes"
        )
    print(f"devices ({len(devices)}):")
    for device in devices:
        running = ", ".join(f"{name} {version}" for name, version in device["models"].items()) or "no model reported"
        print(f"  {device['id']}  group {device['group']}  {running}  last seen {device['last_seen'] or 'never'}")
        for state in device["states"]:
            if state["state"] in ("rejected", "rolled_back"):
                print(f"    {state['name']} {state['version']} {state['state']}: {state['reason'] or 'no reason'}")
    print(f"rollouts ({len(rollouts)}):")
    for item in rollouts:
        print("  " + _rollout_line(item).replace("\n", "\n  "))
    return 0

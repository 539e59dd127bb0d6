"""`cloud-sync retrain MODEL`: export labelled field samples, retrain, compare, register only if better.

The training code lives in `models.training` (the `train` extra) and runs as a child process, so the service
itself never imports it: export -> `python -m models.training.retrain` -> publish (re-signed by the fleet key).
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from cloud_sync.client import ApiClient, ProgressLine, build_package_tar
from cloud_sync.errors import CloudSyncError
from edge_agent.contracts import Manifest, semver_key

NOT_BETTER = 3
CYCLE_RECORDS = 1000  # the telemetry API's page limit: up to 500,000 cycles at 500 per record


def _current_version(client: ApiClient, model: str) -> str:
    listed: list[dict[str, Any]] = client.call("GET", "/models")
    versions = [m["version"] for m in listed if m.get("name") == model]
    if not versions:
        raise CloudSyncError(f"no version of {model!r} is registered; publish one first")
    return max(versions, key=semver_key)


def _download_package(url: str, token: str, model: str, version: str, into: Path) -> Path:
    request = urllib.request.Request(
        f"{url.rstrip('/')}/api/v1/models/{model}/{version}/artifact", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=300) as response:
        data = response.read()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            unsafe = member.name.startswith("/") or ".." in Path(member.name).parts
            if unsafe or not (member.isfile() or member.isdir()):
                raise CloudSyncError(f"unexpected entry {member.name!r} in the {model}@{version} artifact")
        tar.extractall(into, filter="data")
    return into / model / version


def _cycle_records(client: ApiClient, since_days: float) -> list[dict[str, Any]]:
    """The uploaded cycle records of the last since_days (at most the newest CYCLE_RECORDS), oldest first."""
    since_ms = int((time.time() - since_days * 86400) * 1000)
    found: list[dict[str, Any]] = client.call(
        "GET", f"/telemetry?kind=cycles&since_ms={since_ms}&limit={CYCLE_RECORDS}"
    )
    if not found:
        raise CloudSyncError(f"no uploaded line cycles since {since_days:g} days: enable line.cycles on a gateway")
    return [record["document"] for record in reversed(found)]


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    print("$", " ".join(command), file=sys.stderr)
    return subprocess.run(command, capture_output=True, text=True)


def retrain(client: ApiClient, args: argparse.Namespace) -> int:
    """Export, retrain against the newest registered version, print the comparison, publish if better."""
    if args.queue:
        # a replica's job loop runs it (exactly one replica; picked up again if that replica dies)
        job = client.call("POST", "/retrain-jobs", {"model": args.model, "quick": args.quick})
        print(f"retrain job {job['id']} queued for {args.model}; follow it with GET /api/v1/retrain-jobs/{job['id']}")
        return 0
    url, token = client.base_url, client.token
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="cloud-sync-retrain-"))
    workdir.mkdir(parents=True, exist_ok=True)
    current_version = _current_version(client, args.model)
    current = _download_package(url, token, args.model, current_version, workdir / "current")
    dataset = workdir / "dataset"
    if Manifest.model_validate_json((current / "manifest.json").read_bytes()).task == "cycle_time":
        # line cycles are no labelled samples: the gateways' uploaded cycles (stream cycles/UNIT) are the data
        records = _cycle_records(client, args.since_days)
        dataset.mkdir(parents=True, exist_ok=True)
        (dataset / "cycles.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        command = [sys.executable, "-m", "models.training.retrain_cycle_time", str(dataset), "--current", str(current)]
        command += ["--out", str(workdir / "candidate")] + (["--include-drift"] if args.accept_drift else [])
    else:
        export = _run(
            [sys.executable, "-m", "cloud_sync.cli", "export", args.model, "--out", str(dataset), "--only-labelled",
             "--url", url, "--token", token]
        )  # fmt: skip
        if export.returncode != 0:
            raise CloudSyncError(f"export failed: {export.stderr.strip()[-2000:]}")
        command = [sys.executable, "-m", "models.training.retrain", args.model, str(dataset), "--current", str(current)]
        command += ["--out", str(workdir / "candidate"), "--seed", str(args.seed)] + (["--quick"] if args.quick else [])
    trained = _run(command)
    print(trained.stdout, end="")
    if trained.returncode == NOT_BETTER:
        return NOT_BETTER
    if trained.returncode != 0:
        raise CloudSyncError(f"training failed: {trained.stderr.strip()[-3000:]}")
    packages = sorted((workdir / "candidate" / args.model).glob("*/manifest.json"))
    if not packages:
        raise CloudSyncError("training reported success but wrote no package")
    package = packages[-1].parent
    tar_path = workdir / f"{args.model}-{package.name}.tar"
    build_package_tar(package, tar_path)
    status, answer = client.upload("/models", tar_path, ProgressLine("publish", tar_path.stat().st_size))
    if status not in (200, 201):
        raise CloudSyncError(f"publishing {args.model}@{package.name} failed: HTTP {status} {answer}")
    print(f"registered {args.model}@{package.name} (signed by the fleet key); roll it out with:")
    print(f"  cloud-sync rollout {args.model} {package.name} --group GROUP")
    return 0


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """The `retrain` sub-command."""
    parser = commands.add_parser("retrain", help="retrain MODEL from labelled field samples", parents=parents)
    parser.add_argument("model", metavar="MODEL")
    parser.add_argument("--quick", action="store_true", help="small synthetic base set (demos, tests)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", help="where the dataset and candidate go (default: a new temp dir)")
    parser.add_argument("--queue", action="store_true", help="queue it as a job for the service instead of here")
    parser.add_argument("--since-days", type=float, default=14.0, help="cycle-time: uploaded cycles of these days")
    parser.add_argument(
        "--accept-drift", action="store_true", help="cycle-time: learn drifted cycles as the new normal (new tooling)"
    )
    parser.set_defaults(remote=retrain)

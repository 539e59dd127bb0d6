"""Command line of edge-agent: run | check-config | infer | models | baseline | demo."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from edge_agent import __version__
from edge_agent.errors import EdgeAgentError

log = logging.getLogger(__name__)
DEFAULT_KEYS = Path("/etc/edge-agent/trusted-keys")
DEFAULT_CONFIG = Path("/etc/edge-agent/config.yaml")


def _infer(args: argparse.Namespace) -> int:
    from edge_agent.app import build_pipeline
    from edge_agent.config import load_asset
    from edge_agent.offline import expand_inputs, infer_files

    asset = load_asset(args.asset) if args.asset else None
    pipeline = build_pipeline(args.model_dir, args.keys or [DEFAULT_KEYS], threads=args.threads)
    failures = infer_files(pipeline, expand_inputs(args.files, sys.stdin), asset)
    return 1 if failures else 0


def _check_config(args: argparse.Namespace) -> int:
    from edge_agent.config import load_config

    config = load_config(args.config)
    print(
        f"{args.config}: OK (gateway {config.gateway.id}, {len(config.cameras)} cameras, "
        f"{len(config.assets)} assets, namespace {config.gateway.ns})"
    )
    return 0


def _run(args: argparse.Namespace) -> int:
    from edge_agent.app import run_agent
    from edge_agent.config import load_config

    config = load_config(args.config)
    logging.getLogger().setLevel(args.log_level.upper() if args.log_level_given else config.logging.level)
    quiet_chatty_libraries()
    return run_agent(config)


def _models(args: argparse.Namespace) -> int:
    from edge_agent.config import load_config

    if args.action == "rollback":
        from edge_agent.ota.local import rollback_on_disk

        if not args.name:
            raise EdgeAgentError("models rollback needs a model NAME")
        config = load_config(args.config)
        was, now = rollback_on_disk(config.models.dir, args.name)
        print(f"{args.name}: rolled back from {was} to {now}; the running agent switches within seconds")
        return 0
    from edge_agent.model_manager import active_package_dir
    from edge_agent.packages import verify_package
    from edge_agent.signing import TrustedKeys

    config = load_config(args.config)
    trusted = TrustedKeys.from_paths(config.models.trusted_keys)
    failures = 0
    for base in sorted(p for p in config.models.dir.iterdir() if p.is_dir()) if config.models.dir.is_dir() else []:
        try:
            active = active_package_dir(config.models.dir, base.name)
        except EdgeAgentError as exc:
            print(f"{base.name}: {exc}")
            failures += 1
            continue
        for version_dir in sorted(v for v in base.iterdir() if v.is_dir() and not v.is_symlink()):
            marker = "*" if version_dir.resolve() == active else " "
            try:
                package = verify_package(version_dir, trusted)
                manifest = package.manifest
                print(f"{marker} {manifest.name} {manifest.version} {manifest.task} {manifest.runtime} verified")
            except EdgeAgentError as exc:
                failures += 1
                print(f"{marker} {base.name} {version_dir.name} REJECTED: {exc}")
    return 1 if failures else 0


def _baseline(args: argparse.Namespace) -> int:
    import time

    from edge_agent.baseline.records import status_on_disk
    from edge_agent.baseline.store import BaselineStore
    from edge_agent.config import load_config

    config = load_config(args.config)
    store = BaselineStore(config.baseline_dir())
    assets = [a.id for a in config.assets]
    if args.action == "list":
        waiting = {(r.asset, r.action) for r in store.pending()}
        for asset in assets:
            print(_baseline_line(status_on_disk(store, asset, config.baseline_for(asset)), waiting))
        return 0
    if args.asset not in assets:
        raise EdgeAgentError(f"baseline {args.action} needs one of the configured assets: {', '.join(assets)}")
    request = store.request(args.asset, args.action, f"cli:{args.by}")
    deadline = time.monotonic() + args.wait
    while request.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    if request.exists():
        print(
            f"{args.asset}: {args.action} requested; the running agent applies it within 2 s (a stopped one at start)"
        )
        return 0
    row = status_on_disk(store, args.asset, config.baseline_for(args.asset))
    print(f"{args.asset}: {args.action} applied by the agent; now {_baseline_line(row, set())}")
    return 0


def _baseline_line(row: dict[str, object], waiting: set[tuple[str, str]]) -> str:
    parts = [str(row["asset"]), str(row["status"])]
    progress = row.get("progress")
    if isinstance(progress, list):
        parts.append(f"{progress[0]}/{progress[1]} windows")
    levels = row.get("levels")
    if isinstance(levels, dict):
        parts.append(" ".join(f"{k}={v:.4g}" for k, v in levels.items() if k.startswith(("order_", "velocity"))))
        parts.append(f"ISO zone {row.get('iso_zone')}, rpm {row.get('rpm_range')}")
    if row.get("reason"):
        parts.append(f"reason: {row['reason']}")
    parts += [f"({action} requested)" for asset, action in sorted(waiting) if asset == row["asset"]]
    return "  ".join(parts)


def _demo(args: argparse.Namespace) -> int:
    from edge_agent.demo.demo import run_demo

    return run_demo(duration_s=args.duration, web_port=args.port, loop=args.loop)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every sub-command."""
    parser = argparse.ArgumentParser(prog="edge-agent", description="Factory edge ML agent")
    parser.add_argument("--version", action="version", version=f"edge-agent {__version__}")
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING or ERROR")
    commands = parser.add_subparsers(dest="command", required=True)

    infer = commands.add_parser("infer", help="run a model package on image or vibration files")
    infer.add_argument("model_dir", type=Path, help="model package directory (NAME/VERSION)")
    infer.add_argument("files", nargs="+", help="input files; '-' reads file names from stdin")
    infer.add_argument(
        "--keys",
        type=Path,
        action="append",
        help=f"trusted public key file or directory (repeatable; default {DEFAULT_KEYS})",
    )
    infer.add_argument("--asset", type=Path, help="asset YAML with bearing geometry and default rpm")
    infer.add_argument("--threads", type=int, default=1, help="threads per inference")
    infer.set_defaults(handler=_infer)

    run = commands.add_parser("run", help="run the agent service (what systemd starts)")
    run.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="config YAML")
    run.set_defaults(handler=_run)

    models = commands.add_parser("models", help="list and verify installed model packages, or roll one back")
    models.add_argument("action", nargs="?", choices=["list", "rollback"], default="list")
    models.add_argument("name", nargs="?", help="model name (for rollback)")
    models.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="config YAML")
    models.set_defaults(handler=_models)

    baseline = commands.add_parser("baseline", help="list per-asset baselines, or reset / finish one's commissioning")
    baseline.add_argument("action", nargs="?", choices=["list", "reset", "finish"], default="list")
    baseline.add_argument("asset", nargs="?", help="asset id (for reset and finish)")
    baseline.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="config YAML")
    baseline.add_argument("--by", default=os.environ.get("USER", "operator"), help="who asks (kept in the event)")
    baseline.add_argument("--wait", type=float, default=5.0, help="seconds to wait for the running agent to apply it")
    baseline.set_defaults(handler=_baseline)

    demo = commands.add_parser("demo", help="run broker, agent and simulated line locally until Ctrl-C")
    demo.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    demo.add_argument("--port", type=int, default=8080, help="status page port")
    demo.add_argument("--loop", action="store_true", help="show the retraining loop: drift, labels, retrain, rollout")
    demo.set_defaults(handler=_demo)

    check = commands.add_parser("check-config", help="validate a config file and print its errors")
    check.add_argument("config", type=Path, nargs="?", default=DEFAULT_CONFIG)
    check.set_defaults(handler=_check_config)
    return parser


# Libraries that log every protocol message at INFO: asyncua wrote ~28 lines a second for one OPC UA subscription,
# which buried the agent's own log and churned the journal. Their warnings and errors still show; --log-level debug
# shows everything.
CHATTY_LIBRARIES = ("asyncua",)


def quiet_chatty_libraries() -> None:
    """Raise the chatty libraries' loggers to WARNING unless the root logger asks for DEBUG (then they inherit)."""
    debug = logging.getLogger().getEffectiveLevel() <= logging.DEBUG
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.NOTSET if debug else logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the edge-agent command."""
    args = build_parser().parse_args(argv)
    args.log_level_given = args.log_level is not None
    default_level = "INFO" if args.command in ("run", "demo") else "WARNING"
    args.log_level = args.log_level or default_level
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    quiet_chatty_libraries()
    try:
        return int(args.handler(args))
    except EdgeAgentError as exc:
        print(f"edge-agent {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

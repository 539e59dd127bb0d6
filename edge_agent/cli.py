"""Command line of edge-agent: run | check-config | infer | models | demo."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from edge_agent import __version__
from edge_agent.errors import EdgeAgentError

log = logging.getLogger(__name__)
DEFAULT_KEYS = Path("/etc/edge-agent/trusted-keys")


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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every sub-command."""
    parser = argparse.ArgumentParser(prog="edge-agent", description="Factory edge ML agent")
    parser.add_argument("--version", action="version", version=f"edge-agent {__version__}")
    parser.add_argument("--log-level", default="WARNING", help="DEBUG, INFO, WARNING or ERROR")
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

    check = commands.add_parser("check-config", help="validate a config file and print its errors")
    check.add_argument("config", type=Path, nargs="?", default=Path("/etc/edge-agent/config.yaml"))
    check.set_defaults(handler=_check_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the edge-agent command."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.handler(args))
    except EdgeAgentError as exc:
        print(f"edge-agent {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

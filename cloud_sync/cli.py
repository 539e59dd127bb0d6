"""Command line of cloud-sync: keygen, serve, and the admin commands that talk to a running service."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloud_sync import commands, retrain
from cloud_sync.client import ApiClient
from cloud_sync.errors import ClientError, CloudSyncError
from cloud_sync.export import export

log = logging.getLogger(__name__)
DEFAULT_URL = "http://127.0.0.1:8080"


def _keygen(args: argparse.Namespace) -> int:
    private_path: Path = args.out
    public_path = private_path.with_suffix(".pub")
    if private_path.exists() and not args.force:
        print(f"cloud-sync keygen: {private_path} exists; pass --force to replace it", file=sys.stderr)
        return 2
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    private_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    os.chmod(private_path, 0o600)
    public_path.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    print(f"wrote {private_path} (mode 0600) and {public_path}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from cloud_sync.serving import serve  # only the serve command needs the server and the app
    from cloud_sync.settings import Settings

    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return serve(Settings.load(args.config, os.environ, host=args.host, port=args.port, workers=args.workers))


def _client(args: argparse.Namespace, environ: Mapping[str, str]) -> ApiClient:
    token = args.token or environ.get("CLOUD_SYNC_ADMIN_TOKEN")
    token_file = args.token_file or environ.get("CLOUD_SYNC_ADMIN_TOKEN_FILE")
    if not token and token_file:
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ClientError(f"--token-file {token_file}: cannot read ({exc.strerror})") from exc
    if not token:
        raise ClientError("no admin token: pass --token or --token-file, or set CLOUD_SYNC_ADMIN_TOKEN")
    return ApiClient(args.url or environ.get("CLOUD_SYNC_URL") or DEFAULT_URL, token)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cloud-sync", description="Fleet model registry and rollouts")
    commands_ = parser.add_subparsers(dest="command", required=True)
    keygen = commands_.add_parser("keygen", help="create a fleet signing key pair")
    keygen.add_argument("--out", type=Path, default=Path("fleet-signing.key"), help="private key path")
    keygen.add_argument("--force", action="store_true", help="replace an existing key")
    keygen.set_defaults(handler=_keygen)
    serve = commands_.add_parser("serve", help="run the service (settings: --config YAML, CLOUD_SYNC_* variables)")
    serve.add_argument("--config", type=Path, help="YAML file of settings (keys as in CLOUD_SYNC_<KEY>, lower case)")
    serve.add_argument("--host", help="listen address (CLOUD_SYNC_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (CLOUD_SYNC_PORT, default 8080)")
    serve.add_argument("--workers", type=int, help="gunicorn worker processes (CLOUD_SYNC_WORKERS; 0: one waitress)")
    serve.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    serve.set_defaults(handler=_serve)

    remote = argparse.ArgumentParser(add_help=False)
    remote.add_argument("--url", help=f"service base URL (CLOUD_SYNC_URL, default {DEFAULT_URL})")
    remote.add_argument("--token", help="admin token (CLOUD_SYNC_ADMIN_TOKEN)")
    remote.add_argument("--token-file", help="file with the admin token (CLOUD_SYNC_ADMIN_TOKEN_FILE)")

    def client_command(
        name: str, help_text: str, run: Callable[[ApiClient, argparse.Namespace], int]
    ) -> argparse.ArgumentParser:
        command = commands_.add_parser(name, help=help_text, parents=[remote])
        command.set_defaults(remote=run)
        return command

    publish = client_command("publish", "upload a model package directory (NAME/VERSION/)", commands.publish)
    publish.add_argument("package_dir", type=Path, metavar="PACKAGE_DIR")
    rollout = client_command("rollout", "roll a published version out to a group", commands.rollout)
    rollout.add_argument("model", metavar="MODEL")
    rollout.add_argument("version", metavar="VERSION")
    rollout.add_argument("--group", required=True, help="target group")
    rollout.add_argument("--canary", type=float, default=10, help="canary wave, %% of the group (default 10)")
    rollout.add_argument("--wave", type=float, default=50, help="further waves, %% of the group (default 50)")
    rollout.add_argument("--failure-threshold", type=float, default=0.2, help="failed share that pauses (0.2)")
    rollout.add_argument("--shadow", action="store_true", help="shadow-run the candidate first (default thresholds)")
    rollout.add_argument("--probation", type=float, default=300, help="seconds watched after activation (300)")
    for name, run in (("pause", commands.pause), ("resume", commands.resume)):
        command = client_command(name, f"{name} a rollout", run)
        command.add_argument("rollout_id", type=int, metavar="ROLLOUT_ID")
    device = commands_.add_parser("device", help="manage devices")
    device_commands = device.add_subparsers(dest="device_command", required=True)
    add = device_commands.add_parser("add", help="provision a device and print its token", parents=[remote])
    add.set_defaults(remote=commands.device_add)
    add.add_argument("device_id", metavar="ID")
    add.add_argument("--group", required=True, help="group of the device (created if new)")
    dataset = client_command("export", "write a model's samples as a dataset (manifest.jsonl + files/)", export)
    dataset.add_argument("model", metavar="MODEL")
    dataset.add_argument("--out", type=Path, required=True, help="dataset directory (created; re-runs skip files)")
    dataset.add_argument("--since-ms", type=int, help="only samples taken at or after this time (ms since the epoch)")
    dataset.add_argument("--only-labelled", action="store_true", help="only samples that have a label")
    retrain.add_parser(commands_, [remote])
    status = client_command("status", "models, devices and rollouts", commands.status)
    status.add_argument("--json", action="store_true", help="print the raw JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the cloud-sync command."""
    args = _parser().parse_args(argv)
    try:
        if hasattr(args, "remote"):
            return int(args.remote(_client(args, os.environ), args))
        return int(args.handler(args))
    except ClientError as exc:
        print(f"cloud-sync {args.command}: {exc}", file=sys.stderr)
        return 1
    except CloudSyncError as exc:
        print(f"cloud-sync {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

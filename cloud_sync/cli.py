"""Command line of cloud-sync (the service arrives with the OTA issue; keygen works today)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


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


def main(argv: list[str] | None = None) -> int:
    """Entry point of the cloud-sync command."""
    parser = argparse.ArgumentParser(prog="cloud-sync", description="Fleet model registry and rollouts")
    commands = parser.add_subparsers(dest="command", required=True)
    keygen = commands.add_parser("keygen", help="create a fleet signing key pair")
    keygen.add_argument("--out", type=Path, default=Path("fleet-signing.key"), help="private key path")
    keygen.add_argument("--force", action="store_true", help="replace an existing key")
    keygen.set_defaults(handler=_keygen)
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())

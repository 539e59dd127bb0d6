"""A real cloud-sync on a free loopback port with a fresh fleet key, for end-to-end tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from werkzeug.serving import make_server

from cloud_sync.app import create_app, dispose
from cloud_sync.settings import Settings


def serve_cloud(tmp_path: Path, admin_token: str) -> Iterator[tuple[Flask, str, Path]]:
    """Yield (app, base URL, fleet public key file); the key's private half is mode 0600 in tmp_path."""
    key = Ed25519PrivateKey.generate()
    key_path = tmp_path / "fleet" / "fleet.key"
    key_path.parent.mkdir()
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    public = key_path.with_suffix(".pub")
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    settings = Settings.model_validate(
        {
            "state_dir": tmp_path / "cloud",
            "database_url": f"sqlite:///{tmp_path / 'cloud.db'}",
            "signing_key_path": key_path,
            "admin_token": admin_token,
        }
    )
    app = create_app(settings)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{server.server_port}", public
    server.shutdown()
    dispose(app)

"""The fleet signing key: loaded once at start (mode checked), signs manifests, shows only its public half."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloud_sync.errors import ConfigError
from cloud_sync.settings import check_private_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FleetSigner:
    """Signs exact manifest bytes with the fleet Ed25519 key."""

    private_key: Ed25519PrivateKey

    @classmethod
    def load(cls, path: Path) -> FleetSigner:
        """Read the PEM private key; refuse files readable by group or others."""
        check_private_file(path)
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise ConfigError(f"signing_key_path {path}: not a readable unencrypted PEM private key ({exc})") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError(f"signing_key_path {path}: the key is not Ed25519")
        signer = cls(key)
        log.info("fleet signing key %s loaded from %s", signer.key_id, path)
        return signer

    def sign(self, message: bytes) -> bytes:
        """64-byte Ed25519 signature of message."""
        return self.private_key.sign(message)

    @property
    def public_pem(self) -> bytes:
        """SubjectPublicKeyInfo PEM of the public half (what gateways trust)."""
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @property
    def key_id(self) -> str:
        """First 16 hex digits of sha256 of the raw public key, as gateways name trusted keys."""
        raw = self.private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return hashlib.sha256(raw).hexdigest()[:16]

"""Ed25519 signing of manifests and the set of trusted public keys a gateway holds."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from edge_agent.errors import ConfigError, SignatureError

SIGNATURE_BYTES = 64


def key_id(public_key: Ed25519PublicKey) -> str:
    """Short stable id of a public key: first 16 hex digits of sha256 of its raw bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class TrustedKeys:
    """Public keys whose signatures a gateway accepts; several at once allow key rotation."""

    keys: dict[str, Ed25519PublicKey]

    @classmethod
    def from_paths(cls, paths: list[Path]) -> TrustedKeys:
        """Load PEM public keys from files and from every *.pub file of the given directories."""
        files: list[Path] = []
        for path in paths:
            files.extend(sorted(path.glob("*.pub")) if path.is_dir() else [path])
        keys: dict[str, Ed25519PublicKey] = {}
        for file in files:
            try:
                key = serialization.load_pem_public_key(file.read_bytes())
            except (OSError, ValueError) as exc:
                raise ConfigError(f"{file}: not a readable PEM public key ({exc})") from exc
            if not isinstance(key, Ed25519PublicKey):
                raise ConfigError(f"{file}: public key is not Ed25519")
            keys[key_id(key)] = key
        if not keys:
            raise ConfigError(f"no trusted public keys (*.pub) found in {', '.join(map(str, paths))}")
        return cls(keys)

    def verify(self, message: bytes, signature: bytes) -> str:
        """Id of the trusted key that made this signature; SignatureError when none did."""
        if len(signature) != SIGNATURE_BYTES:
            raise SignatureError(f"signature is {len(signature)} bytes; an Ed25519 signature is 64")
        for kid, key in self.keys.items():
            try:
                key.verify(signature, message)
            except InvalidSignature:
                continue
            return kid
        raise SignatureError(f"signature matches none of the {len(self.keys)} trusted key(s)")


def generate_private_key() -> Ed25519PrivateKey:
    """A new Ed25519 signing key."""
    return Ed25519PrivateKey.generate()


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    """Unencrypted PKCS#8 PEM of a private key (store it with mode 0600)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_key_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """SubjectPublicKeyInfo PEM of a key's public half."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """Read a PEM Ed25519 private key."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"{path}: not a readable PEM private key ({exc})") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path}: private key is not Ed25519")
    return key

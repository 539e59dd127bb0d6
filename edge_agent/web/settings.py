"""Status page settings (mirrors the config's `web:` section) and the secrets they point to, read at start."""

from __future__ import annotations

import ipaddress
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import field_validator

from edge_agent.config import WebConfig
from edge_agent.errors import ConfigError

log = logging.getLogger(__name__)
HASH_METHODS = ("scrypt:", "pbkdf2:")
LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


class WebSettings(WebConfig):
    """How the status page is served and protected (the config's `web:` section plus behaviour)."""

    @field_validator("password_hash")
    @classmethod
    def _known_hash(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(HASH_METHODS):
            raise ValueError("must be a werkzeug scrypt or pbkdf2 hash (generate with `python -m edge_agent.web`)")
        return value

    @property
    def login_required(self) -> bool:
        """True when the page is reachable from other hosts."""
        return not is_loopback(self.host)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and the usual names of localhost."""
    name = host.strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Credentials:
    """Secrets the app holds in memory; never rendered into any response."""

    password_hash: str | None
    secret_key: bytes
    metrics_token: str | None


def _read(path: Path, environ: Mapping[str, str], key: str) -> str:
    if not path.is_absolute() and environ.get("CREDENTIALS_DIRECTORY"):
        path = Path(environ["CREDENTIALS_DIRECTORY"]) / path
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"web.{key}: cannot read {path} ({exc.strerror})") from exc
    if not text:
        raise ConfigError(f"web.{key}: {path} is empty")
    return text


def load_credentials(settings: WebSettings, environ: Mapping[str, str]) -> Credentials:
    """Read the password hash, session key and metrics token; refuse to serve off loopback without a password."""
    password_hash = settings.password_hash
    if password_hash is None and settings.password_hash_file is not None:
        password_hash = _read(settings.password_hash_file, environ, "password_hash_file")
        if not password_hash.startswith(HASH_METHODS):
            raise ConfigError("web.password_hash_file: the file must hold a werkzeug scrypt or pbkdf2 hash")
    if settings.login_required and password_hash is None:
        raise ConfigError(
            f"web.host: {settings.host} is not loopback, so login is required: set web.password_hash "
            "or web.password_hash_file (generate a hash with `python -m edge_agent.web`)"
        )
    if settings.secret_key_file is not None:
        secret_key = _read(settings.secret_key_file, environ, "secret_key_file").encode()
        if len(secret_key) < 32:
            raise ConfigError("web.secret_key_file: the key must be at least 32 characters")
    else:
        secret_key = secrets.token_bytes(32)  # logins then last until the agent restarts
    token = None
    if settings.metrics_token_file is not None:
        token = _read(settings.metrics_token_file, environ, "metrics_token_file")
        if len(token) < 16:
            raise ConfigError("web.metrics_token_file: the token must be at least 16 characters")
    return Credentials(password_hash, secret_key, token)

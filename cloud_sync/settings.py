"""Service settings: one pydantic model, filled from a YAML file, CLOUD_SYNC_* variables and systemd credentials."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from cloud_sync.errors import ConfigError

ENV_PREFIX = "CLOUD_SYNC_"
# Variables the CLI client reads; they are not service settings.
CLIENT_VARIABLES = ("CLOUD_SYNC_URL",)
# systemd LoadCredential= names picked up from $CREDENTIALS_DIRECTORY.
CREDENTIAL_FILES = {"admin_token_file": "admin-token", "signing_key_path": "fleet-signing.key"}


class Settings(BaseModel):
    """Everything the service needs to start; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    state_dir: Path = Field(
        default=Path("/var/lib/cloud-sync"),
        description="Directory for the default SQLite database, the default artifact store and upload spool",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL: sqlite:///PATH or postgresql+psycopg://USER@HOST/DB; default SQLite in state_dir",
    )
    storage_url: str | None = Field(
        default=None,
        description="Artifact store: file:///PATH or s3://BUCKET/PREFIX; default file://STATE_DIR/artifacts",
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="Endpoint of an S3-compatible store (MinIO, Ceph); None means AWS"
    )
    s3_region: str | None = Field(default=None, description="S3 region name, if the store needs one")
    signing_key_path: Path = Field(description="PEM Ed25519 fleet private key; its file mode must be 0600 or narrower")
    admin_token: SecretStr | None = Field(default=None, description="Bearer token of admin calls (CLI, fleet page)")
    admin_token_file: Path | None = Field(default=None, description="File holding the admin token (first line)")
    host: str = Field(default="127.0.0.1", description="Address the HTTP server listens on")
    port: int = Field(default=8080, ge=0, le=65535, description="TCP port the HTTP server listens on")
    threads: int = Field(
        default=8, ge=1, le=256, description="Threads of the HTTP server (per gunicorn worker process when workers > 0)"
    )
    max_upload_bytes: int = Field(
        default=512 * 1024 * 1024, gt=0, description="Largest accepted model package tar, in bytes"
    )
    max_json_bytes: int = Field(default=1024 * 1024, gt=0, description="Largest accepted JSON request body, in bytes")
    max_batch_bytes: int = Field(
        default=64 * 1024 * 1024,
        gt=0,
        description="Largest accepted outbox batch body, in bytes (a sample travels base64 twice: ~1.8x its size)",
    )
    max_batch_records: int = Field(default=10_000, gt=0, description="Most records accepted in one outbox batch")
    workers: int = Field(
        default=0,
        ge=0,
        le=64,
        description="gunicorn worker processes (each with `threads` threads); 0 serves in one waitress process",
    )
    last_seen_write_s: float = Field(
        default=60.0,
        ge=0,
        description="A device's last_seen is written at most this often (its polls and reports in between only read)"
        "; 0 writes it on every call",
    )
    jobs: bool = Field(default=True, description="Run the background job loop (retrain jobs, retention) in `serve`")
    job_poll_s: float = Field(default=5.0, gt=0, description="How often an idle replica looks for queued jobs, seconds")
    job_lease_s: float = Field(
        default=60.0, gt=0, description="A running job's lease; a replica that stops renewing it loses the job, seconds"
    )
    job_max_attempts: int = Field(default=3, ge=1, description="Claims of one job before it is failed for good")
    retrain_command: list[str] | None = Field(
        default=None,
        description="Command a retrain job runs ({model}, {url}, {job} filled in; the admin token is in "
        "CLOUD_SYNC_ADMIN_TOKEN); default: cloud-sync retrain MODEL --url URL",
    )
    telemetry_retention_days: float | None = Field(
        default=None, gt=0, description="Delete telemetry ledger rows received longer ago than this; None keeps all"
    )
    unlabelled_sample_retention_days: float | None = Field(
        default=None, gt=0, description="Delete unlabelled samples (row and bytes) received longer ago; None keeps all"
    )
    labelled_sample_retention_days: float | None = Field(
        default=None, gt=0, description="Delete labelled samples (row, labels, bytes) received longer ago; None keeps"
    )
    prune_interval_s: float = Field(
        default=3600.0, gt=0, description="How often one replica applies the retention settings, seconds"
    )

    @field_validator("retrain_command", mode="before")
    @classmethod
    def _command_from_text(cls, value: object) -> object:
        # a CLOUD_SYNC_RETRAIN_COMMAND variable holds the list as JSON text
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError as exc:
                raise ValueError('expected a JSON list of strings, e.g. ["python", "train.py", "{model}"]') from exc
        return value

    @model_validator(mode="after")
    def _one_admin_token_source(self) -> Settings:
        if (self.admin_token is None) == (self.admin_token_file is None):
            raise ValueError("set exactly one of admin_token and admin_token_file")
        return self

    @property
    def local_url(self) -> str:
        """This replica's own base URL (retrain jobs call back through it)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite in state_dir."""
        return self.database_url or f"sqlite:///{self.state_dir / 'cloud-sync.db'}"

    @property
    def resolved_storage_url(self) -> str:
        """The storage URL, defaulting to a directory in state_dir."""
        return self.storage_url or (self.state_dir / "artifacts").absolute().as_uri()

    def read_admin_token(self) -> str:
        """The admin token, from the setting or its file; ConfigError when missing or too short."""
        if self.admin_token is not None:
            token = self.admin_token.get_secret_value().strip()
            origin = "admin_token"
        else:
            assert self.admin_token_file is not None  # guaranteed by the validator
            origin = str(self.admin_token_file)
            try:
                lines = self.admin_token_file.read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise ConfigError(f"admin_token_file {origin}: cannot read ({exc.strerror})") from exc
            token = lines[0].strip() if lines else ""
        # A short admin token can be guessed over the network; refuse it rather than run exposed.
        if len(token) < 16:
            raise ConfigError(f"{origin}: the admin token must be at least 16 characters")
        return token

    @classmethod
    def load(cls, config: Path | None, environ: Mapping[str, str], **overrides: object) -> Settings:
        """Settings from a YAML file, then CLOUD_SYNC_<FIELD> variables, then systemd credentials, then overrides."""
        values: dict[str, object] = {}
        origin = "cloud-sync settings"
        if config is not None:
            origin = str(config)
            values.update(_read_yaml(config))
        for key, value in environ.items():
            if key.startswith(ENV_PREFIX) and key not in CLIENT_VARIABLES:
                values[key[len(ENV_PREFIX) :].lower()] = value
        credentials = environ.get("CREDENTIALS_DIRECTORY")
        if credentials:
            # systemd LoadCredential= files; an explicit setting wins.
            for field, file_name in CREDENTIAL_FILES.items():
                candidate = Path(credentials) / file_name
                explicit = field in values or (field == "admin_token_file" and "admin_token" in values)
                if candidate.is_file() and not explicit:
                    values[field] = str(candidate)
        values.update({key: value for key, value in overrides.items() if value is not None})
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '(settings)'} "
                f"(or {ENV_PREFIX}{'.'.join(str(p) for p in err['loc']).upper()}): {err['msg']}"
                for err in exc.errors()
            )
            raise ConfigError(f"{origin}: {problems}") from exc


def _read_yaml(path: Path) -> dict[str, object]:
    import yaml  # only the service reads a config file

    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected a mapping of settings (key: value), got {type(document).__name__}")
    return {str(key): value for key, value in document.items()}


def check_private_file(path: Path) -> None:
    """Refuse a secret file that others may read: any mode bit beyond 0600 is an error."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError as exc:
        raise ConfigError(f"signing_key_path {path}: cannot read ({exc.strerror})") from exc
    if mode & ~0o600:
        raise ConfigError(
            f"signing_key_path {path}: file mode {mode:04o} is wider than 0600; run `chmod 600 {path}` first"
        )

"""Agent configuration: YAML file + EDGE_AGENT__SECTION__KEY overrides, validated by pydantic."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edge_agent.config_api import ApiConfig
from edge_agent.config_baseline import BaselineConfig, BaselineOverride, BaselineTuning, merged_tuning
from edge_agent.config_capture import CapturePolicy
from edge_agent.config_line import LineConfig
from edge_agent.contracts import BearingGeometry
from edge_agent.errors import ConfigError

DEFAULT_PATH = Path("/etc/edge-agent/config.yaml")
ENV_PREFIX = "EDGE_AGENT__"


class _Section(BaseModel):
    """Base for config sections: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class GatewayConfig(_Section):
    """Who this gateway is and which line it serves."""

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="Gateway id, unique in the fleet")
    site: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="Plant or site name")
    line: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="Production line name")
    namespace: str = Field(default="factory/v1/{site}/{line}", description="Topic prefix template")

    @property
    def ns(self) -> str:
        """The topic prefix with site and line filled in."""
        return self.namespace.format(site=self.site, line=self.line)


class TlsConfig(_Section):
    """TLS to the broker."""

    ca_file: Path | None = Field(default=None, description="CA bundle that signed the broker's certificate")
    cert_file: Path | None = Field(default=None, description="Client certificate for mutual TLS")
    key_file: Path | None = Field(default=None, description="Client private key for mutual TLS")


class MqttConfig(_Section):
    """Connection to the plant's broker."""

    host: str = Field(default="127.0.0.1", description="Broker host name or address")
    port: int = Field(default=1883, ge=1, le=65535, description="Broker TCP port")
    tls: TlsConfig | None = Field(default=None, description="TLS settings; plain TCP when absent")
    username: str | None = Field(default=None, description="Broker user name")
    password_file: Path | None = Field(
        default=None, description="File holding the password; relative names resolve in $CREDENTIALS_DIRECTORY"
    )
    client_id: str | None = Field(default=None, description="MQTT client id; defaults to edge-agent-{gateway.id}")
    keepalive_s: int = Field(default=30, ge=5, le=600, description="MQTT keepalive interval")
    session_expiry_s: int = Field(default=3600, ge=0, description="How long the broker keeps our session")
    reconnect_min_s: float = Field(default=0.5, gt=0, description="First reconnect delay")
    reconnect_max_s: float = Field(default=30.0, gt=0, description="Longest reconnect delay (exponential backoff)")
    status_interval_s: float = Field(default=30.0, gt=0, description="How often the retained status is refreshed")
    replay_acked_s: float = Field(
        default=12.0,
        ge=0,
        le=120,
        description="After a reconnect, re-send QoS 1 results the broker acknowledged this long before the drop: a "
        "killed broker loses what it acknowledged but had not yet forwarded or saved, so keep this above the "
        "broker's autosave_interval (10 s in firmware-config/mosquitto.conf); 0 turns it off",
    )
    replay_after_session_loss_s: float = Field(
        default=5.0,
        ge=0,
        le=60,
        description="When the broker comes back without our session (its store was lost or corrupt), wait this "
        "long before the replay so persistent subscribers have resubscribed; what was sent meanwhile is replayed too",
    )


class CameraConfig(_Section):
    """A camera whose frames are inspected."""

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="Camera id as it appears in the topic")
    model: str = Field(description="Name of the inspection model package to run")


class AssetConfig(_Section):
    """A machine whose vibration is monitored."""

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="Asset id as it appears in the topic")
    sensor: Literal["vibration"] = Field(default="vibration", description="Kind of sensor stream")
    bearing: BearingGeometry | None = Field(default=None, description="Bearing geometry, unless messages carry it")
    rpm: float | None = Field(default=None, gt=0, description="Shaft speed used when a message carries no rpm")
    model: str | None = Field(default=None, description="Maintenance model package; defaults to models.maintenance")
    baseline: BaselineOverride | None = Field(
        default=None, description="Baseline keys that differ for this asset (the rest come from the baseline section)"
    )


class ModelsConfig(_Section):
    """Where model packages live and which keys may sign them."""

    dir: Path = Field(default=Path("/var/lib/edge-agent/models"), description="Root of NAME/VERSION packages")
    trusted_keys: list[Path] = Field(
        default_factory=lambda: [Path("/etc/edge-agent/trusted-keys")],
        description="Public key files or directories of *.pub files",
    )
    maintenance: str | None = Field(default=None, description="Default maintenance model package name")
    threads: int = Field(default=1, ge=1, le=64, description="Threads one inference may use")


class QueueConfig(_Section):
    """One bounded work queue."""

    size: int = Field(ge=1, le=100_000, description="Items held before the drop policy applies")
    policy: Literal["drop_oldest", "block_then_drop"] = Field(description="What happens when full")
    block_ms: float = Field(default=50.0, ge=0, description="How long block_then_drop waits for room")


class QueuesConfig(_Section):
    """Queues between MQTT and the worker threads."""

    frames: QueueConfig = Field(
        default_factory=lambda: QueueConfig(size=32, policy="drop_oldest"), description="Camera frames"
    )
    windows: QueueConfig = Field(
        default_factory=lambda: QueueConfig(size=256, policy="block_then_drop"), description="Vibration windows"
    )
    workers: int = Field(default=2, ge=1, le=32, description="Worker threads per pipeline")
    max_batch: int = Field(default=16, ge=1, le=256, description="Largest micro-batch of sensor windows")


class WebConfig(_Section):
    """Local status page, /metrics, /livez and /readyz (edge_agent.web.WebSettings has the same keys)."""

    host: str = Field(default="127.0.0.1", description="Bind address; anything but loopback requires login")
    port: int = Field(default=8080, ge=0, le=65535, description="TCP port; 0 picks a free port")
    password_hash: str | None = Field(
        default=None, description="werkzeug scrypt/pbkdf2 hash of the login password (`python -m edge_agent.web`)"
    )
    password_hash_file: Path | None = Field(
        default=None, description="File holding the password hash; relative names resolve in $CREDENTIALS_DIRECTORY"
    )
    secret_key_file: Path | None = Field(
        default=None, description="File with the session signing key; a random key per start when unset"
    )
    metrics_token_file: Path | None = Field(
        default=None, description="File with a bearer token that lets a scraper read /metrics off loopback"
    )
    session_idle_s: float = Field(default=900.0, gt=0, description="Idle time after which a login expires")
    session_max_s: float = Field(default=12 * 3600.0, gt=0, description="Longest a login lasts, active or not")
    login_max_failures: int = Field(default=5, ge=1, description="Failed logins per client address before lockout")
    lockout_s: float = Field(default=300.0, gt=0, description="Failure-counting window and lockout duration")
    cookie_secure: bool = Field(default=False, description="Mark the session cookie Secure (behind a TLS proxy)")
    refresh_s: float = Field(default=2.0, ge=0.5, le=60, description="How often the page polls the API")
    thumbnails: int = Field(default=200, ge=0, le=5000, description="Recent inspection thumbnails kept in memory")
    thumbnail_width: int = Field(default=160, ge=32, le=640, description="Thumbnail width in pixels")
    threads: int = Field(default=4, ge=1, le=32, description="Threads serving HTTP requests")


class StoreConfig(_Section):
    """Local SQLite store of results."""

    path: Path = Field(default=Path("/var/lib/edge-agent/agent.db"), description="SQLite database file")
    retention_days: float = Field(default=7.0, gt=0, description="How long results are kept")


class CloudConfig(_Section):
    """cloud-sync, for over-the-air model updates (outbound HTTPS polling only)."""

    url: str | None = Field(default=None, description="cloud-sync base URL; OTA is off when unset")
    device_id: str | None = Field(default=None, description="Device id at cloud-sync; defaults to gateway.id")
    token_file: Path | None = Field(
        default=None, description="File with the device token; relative names resolve in $CREDENTIALS_DIRECTORY"
    )
    poll_s: float = Field(default=60.0, gt=0, description="How often the desired state is fetched")


class OtaConfig(_Section):
    """How new model versions are judged on this gateway."""

    probation_max_error_rate: float = Field(default=0.05, ge=0, le=1, description="Failed share that rolls back")
    probation_min_items: int = Field(default=20, ge=1, description="Inputs seen before probation judges")
    disk_factor: float = Field(default=2.0, ge=1, description="Free disk needed, as a multiple of the package")


class OutboxConfig(_Section):
    """Store-and-forward of results, events and hard examples to cloud-sync."""

    path: Path = Field(default=Path("/var/lib/edge-agent/outbox.db"), description="SQLite outbox file")
    budget_bytes: int = Field(default=512 * 1024 * 1024, ge=1024 * 1024, description="Disk the outbox may use")
    commit_interval_ms: float = Field(
        default=50.0, gt=0, le=1000, description="Group-commit interval (power-loss window)"
    )
    batch_records: int = Field(default=1000, ge=1, le=10_000, description="Records per upload request")
    upload_share_when_busy: float = Field(
        default=0.05,
        gt=0,
        le=1,
        description="While inputs wait for inference, the share of time the uploader may spend draining "
        "(it grows while inference keeps up; 1 = no pacing)",
    )


class LoggingConfig(_Section):
    """Logging."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", description="Log level")


class AgentConfig(_Section):
    """The whole /etc/edge-agent/config.yaml."""

    version: Literal[1] = Field(description="Config format version")
    gateway: GatewayConfig = Field(description="Identity of this gateway")
    mqtt: MqttConfig = Field(default_factory=MqttConfig, description="Plant broker")
    cameras: list[CameraConfig] = Field(default_factory=list, description="Inspected cameras")
    assets: list[AssetConfig] = Field(default_factory=list, description="Monitored machines")
    models: ModelsConfig = Field(default_factory=ModelsConfig, description="Model packages")
    queues: QueuesConfig = Field(default_factory=QueuesConfig, description="Work queues")
    store: StoreConfig = Field(default_factory=StoreConfig, description="Local result store")
    web: WebConfig = Field(default_factory=WebConfig, description="Status page")
    api: ApiConfig = Field(default_factory=ApiConfig, description="Models served over the Open Inference Protocol")
    cloud: CloudConfig = Field(default_factory=CloudConfig, description="cloud-sync connection")
    ota: OtaConfig = Field(default_factory=OtaConfig, description="Over-the-air model updates")
    outbox: OutboxConfig = Field(default_factory=OutboxConfig, description="Store-and-forward to the cloud")
    capture: CapturePolicy = Field(default_factory=CapturePolicy, description="Hard-example capture policy")
    baseline: BaselineConfig = Field(default_factory=BaselineConfig, description="Per-asset healthy baselines")
    line: LineConfig = Field(default_factory=LineConfig, description="Line performance (OEE) from PLC data")
    logging: LoggingConfig = Field(default_factory=LoggingConfig, description="Logging")

    @model_validator(mode="after")
    def _unique_ids(self) -> AgentConfig:
        for kind, items in (("camera", self.cameras), ("asset", self.assets)):
            ids = [item.id for item in items]
            duplicates = sorted({i for i in ids if ids.count(i) > 1})
            if duplicates:
                raise ValueError(f"duplicate {kind} ids: {', '.join(duplicates)}")
        return self

    @model_validator(mode="after")
    def _capture_models_in_use(self) -> AgentConfig:
        used = {camera.model for camera in self.cameras} | {a.model for a in self.assets if a.model}
        if self.models.maintenance:
            used.add(self.models.maintenance)
        unknown = sorted(set(self.capture.models) - used)
        if unknown:  # a typo would silently leave the default policy in force
            in_use = ", ".join(sorted(used))
            raise ValueError(f"capture.models: no camera or asset uses {', '.join(unknown)} (models in use: {in_use})")
        return self

    @model_validator(mode="after")
    def _asset_baselines(self) -> AgentConfig:
        for asset in self.assets:
            self.baseline_for(asset.id)  # an override may break min_windows <= windows only once merged
        return self

    def baseline_dir(self) -> Path:
        """Where baseline files live: baseline.dir, else baselines/ beside the result store."""
        return self.baseline.dir if self.baseline.dir is not None else self.store.path.parent / "baselines"

    def baseline_for(self, asset_id: str) -> BaselineTuning:
        """The baseline section with the asset's own keys (only those it sets) laid over it."""
        asset = next((a for a in self.assets if a.id == asset_id), None)
        return merged_tuning(self.baseline, asset.baseline if asset is not None else None, f"assets.{asset_id}")


def _apply_env(document: dict[str, Any], environ: Mapping[str, str]) -> None:
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__")]
        node = document
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{name}: {'.'.join(path)} does not name a config key")
            node = child
        node[path[-1]] = yaml.safe_load(raw) if raw else raw


def format_validation_error(origin: str, exc: ValidationError) -> str:
    """One line per problem: file, dotted key path, and what is expected."""
    lines = [f"{origin}: invalid configuration"]
    for err in exc.errors():
        location = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"  {location}: {err['msg']}")
    return "\n".join(lines)


def parse_config(document: Any, origin: str, environ: Mapping[str, str] | None = None) -> AgentConfig:
    """Validate a loaded YAML document (after env overrides) into an AgentConfig."""
    if not isinstance(document, dict):
        raise ConfigError(f"{origin}: the top level must be a mapping of sections")
    _apply_env(document, environ if environ is not None else {})
    try:
        return AgentConfig.model_validate(document)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(origin, exc)) from exc


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> AgentConfig:
    """Read, override from the environment and validate a config file."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: config file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    return parse_config(document, str(path), os.environ if environ is None else environ)


def load_asset(path: Path) -> AssetConfig:
    """Read one asset object (DESIGN.md section 9) from a YAML file, as `infer --asset` takes it."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read asset YAML ({exc})") from exc
    if isinstance(document, dict) and isinstance(document.get("assets"), list) and len(document["assets"]) == 1:
        document = document["assets"][0]
    if isinstance(document, list) and len(document) == 1:
        document = document[0]
    try:
        return AssetConfig.model_validate(document)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(str(path), exc)) from exc

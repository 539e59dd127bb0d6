"""Builders of the agent's optional parts (line KPIs and OPC UA, the inference API, OTA) and its MQTT settings."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from edge_agent.api import ApiServer
from edge_agent.config import AgentConfig
from edge_agent.errors import ConfigError
from edge_agent.ingest.images import ImageLimits
from edge_agent.line.cycle_model import CycleModelSource
from edge_agent.line.cycle_monitor import CycleMonitor
from edge_agent.line.engine import LineEngine
from edge_agent.line.opcua import OpcUaSource
from edge_agent.line.persist import LineStateFile
from edge_agent.line.tracker import OPCUA_PREFIX, LineTracker
from edge_agent.model_manager import ModelManager
from edge_agent.mqtt import MqttSettings
from edge_agent.ota.http import UrllibTransport
from edge_agent.ota.shadow import ShadowEvaluator
from edge_agent.ota.updater import Updater, UpdaterSettings
from edge_agent.pipelines.workers import AssetDefaults
from edge_agent.service import AgentService, TagSource
from edge_agent.signing import TrustedKeys
from edge_agent.stats import AgentStats

log = logging.getLogger(__name__)


def read_secret(path: Path, environ: Mapping[str, str], key: str = "mqtt.password_file") -> str:
    """A secret file's text; a relative path is looked up in systemd's $CREDENTIALS_DIRECTORY."""
    if not path.is_absolute() and environ.get("CREDENTIALS_DIRECTORY"):
        path = Path(environ["CREDENTIALS_DIRECTORY"]) / path
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read {path} ({exc.strerror})") from exc


def sparkplug_source() -> TagSource | None:
    """The Sparkplug B decoder, or None (with a warning) when the protobuf runtime is missing."""
    try:
        from edge_agent.ingest.sparkplug import SparkplugIngest
    except ImportError:  # the protobuf runtime is missing: the agent runs without Sparkplug
        log.warning("Sparkplug B ingest unavailable (protobuf missing)")
        return None
    return SparkplugIngest()


def mqtt_settings(config: AgentConfig, environ: Mapping[str, str], status_topic: str) -> MqttSettings:
    """The broker connection of the config, with the retained offline status as last will."""
    mqtt = config.mqtt
    will = json.dumps({"state": "offline", "gateway": config.gateway.id, "reason": "lost"}).encode()
    return MqttSettings(
        host=mqtt.host,
        port=mqtt.port,
        client_id=mqtt.client_id or f"edge-agent-{config.gateway.id}",
        keepalive_s=mqtt.keepalive_s,
        session_expiry_s=mqtt.session_expiry_s,
        username=mqtt.username,
        password=read_secret(mqtt.password_file, environ) if mqtt.password_file else None,
        ca_file=mqtt.tls.ca_file if mqtt.tls else None,
        cert_file=mqtt.tls.cert_file if mqtt.tls else None,
        key_file=mqtt.tls.key_file if mqtt.tls else None,
        reconnect_min_s=mqtt.reconnect_min_s,
        reconnect_max_s=mqtt.reconnect_max_s,
        replay_acked_s=mqtt.replay_acked_s,
        replay_after_session_loss_s=mqtt.replay_after_session_loss_s,
        will_topic=status_topic,
        will_payload=will,
    )


def build_line(
    config: AgentConfig, tracker: LineTracker | None, service: AgentService
) -> tuple[LineEngine | None, OpcUaSource | None]:
    """The line KPI engine over the tracker, and the OPC UA source when units read opcua: tags."""
    if tracker is None:
        return None, None
    engine = LineEngine(
        config.line,
        config.gateway.ns,
        tracker,
        LineStateFile(config.store.path.parent / "line-state.json"),
        publish=service.publish_retained,
        upstream=service.upstream,
        cycles=build_cycle_monitor(config, tracker, service),
    )
    nodes = [ref[len(OPCUA_PREFIX) :] for ref, _ in tracker.refs() if ref.startswith(OPCUA_PREFIX)]
    if not nodes or config.line.opcua is None:
        return engine, None
    source = OpcUaSource(
        config.line.opcua,
        nodes,
        on_tag=tracker.tag,
        on_connection=lambda connected, detail: tracker.connection("opcua", connected),
        on_problem=lambda node, detail: tracker.problem(f"opcua:{node}", "opcua_node", detail),
    )
    return engine, source


def build_cycle_monitor(config: AgentConfig, tracker: LineTracker, service: AgentService) -> CycleMonitor | None:
    """The cycle-time model over the tracker's cycles (None when line.cycles is unset)."""
    cycles = config.line.cycles
    if cycles is None:
        return None
    source = CycleModelSource(
        config.models.dir,
        cycles.model,
        TrustedKeys.from_paths(config.models.trusted_keys),
        on_change=lambda version, path: service.event("model_switched", model=cycles.model, version=version),
    )

    def publish_event(topic: str, payload: bytes) -> None:
        if service.publisher is not None:
            service.publisher.publish(topic, payload, qos=1)

    return CycleMonitor(config.line, config.gateway.ns, tracker, source.get, publish_event, service.upstream)


def build_api(
    config: AgentConfig,
    environ: Mapping[str, str],
    models: ModelManager,
    assets: dict[str, AssetDefaults],
    limits: ImageLimits,
    ready: Callable[[], bool],
    mqtt_backlogged: Callable[[], bool],
) -> ApiServer | None:
    """The Open Inference Protocol endpoints over the same model manager (None when off); both ports bound now."""
    if not config.api.enabled:
        return None
    token_file = config.api.token_file
    return ApiServer(
        config.api,
        models,
        assets,
        limits,
        ready=ready,
        token=read_secret(token_file, environ, "api.token_file") if token_file else None,
        mqtt_backlogged=mqtt_backlogged,
    )


def cloud_token(config: AgentConfig, environ: Mapping[str, str]) -> str:
    """The device token cloud-sync expects (required once cloud.url is set)."""
    if config.cloud.token_file is None:
        raise ConfigError("cloud.token_file: required when cloud.url is set")
    return read_secret(config.cloud.token_file, environ, "cloud.token_file")


def build_updater(
    config: AgentConfig,
    token: str,
    trusted: TrustedKeys,
    models: ModelManager,
    shadow: ShadowEvaluator,
    stats: AgentStats,
    emit: Callable[..., Any],
) -> Updater:
    """The OTA updater polling cloud-sync for this device's desired models."""
    cloud = config.cloud
    settings = UpdaterSettings(
        base_url=str(cloud.url),
        device_id=cloud.device_id or config.gateway.id,
        token=token,
        poll_s=cloud.poll_s,
        disk_factor=config.ota.disk_factor,
        probation_max_error_rate=config.ota.probation_max_error_rate,
        probation_min_items=config.ota.probation_min_items,
        # the line engine runs the cycle-time model from models.dir: OTA installs it and moves its pointer
        disk_models={config.line.cycles.model: "cycle_time"} if config.line.cycles is not None else {},
    )
    return Updater(settings, UrllibTransport(), models, trusted, shadow, stats, emit)

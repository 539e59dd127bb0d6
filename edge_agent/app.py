"""Wiring: the only module that builds runtimes, pipelines and services and connects them."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge_agent.api import ApiServer
from edge_agent.baseline.manager import AssetPlan, BaselineManager
from edge_agent.baseline.store import BaselineStore
from edge_agent.config import AgentConfig
from edge_agent.errors import ConfigError, EdgeAgentError
from edge_agent.ingest.images import ImageLimits
from edge_agent.line.engine import LineEngine
from edge_agent.line.opcua import OpcUaSource
from edge_agent.line.persist import LineStateFile
from edge_agent.line.tracker import OPCUA_PREFIX, LineTracker
from edge_agent.loading import load_model
from edge_agent.model_manager import ModelManager
from edge_agent.mqtt import MqttClient, MqttSettings
from edge_agent.ota.http import UrllibTransport
from edge_agent.ota.install import read_pointer
from edge_agent.ota.shadow import ShadowEvaluator
from edge_agent.ota.updater import Updater, UpdaterSettings
from edge_agent.outbox.capture import HardExampleCapture
from edge_agent.outbox.store import Outbox
from edge_agent.outbox.uploader import InferenceLoad, Uploader, UploaderSettings
from edge_agent.pipelines.inspection import QualityInspector
from edge_agent.pipelines.maintenance import HealthMonitor
from edge_agent.pipelines.workers import AssetDefaults, InspectionWorker, MaintenanceWorker, WorkerPool, WorkItem
from edge_agent.queues import DropQueue
from edge_agent.runtimes import RuntimeOptions
from edge_agent.service import AgentService, TagSource, Topics
from edge_agent.signing import TrustedKeys
from edge_agent.stats import AgentStats
from edge_agent.store import ResultStore
from edge_agent.systemd import SystemdNotifier
from edge_agent.web import (
    AgentView,
    ServerHandle,
    ThumbnailBuffer,
    ThumbnailTap,
    WebSettings,
    create_app,
    serve_in_thread,
)
from edge_agent.web.line import LineCollector, line_blueprint

if TYPE_CHECKING:
    from prometheus_client.registry import Collector

log = logging.getLogger(__name__)
Pipeline = QualityInspector | HealthMonitor


def build_pipeline(package_dir: Path, trusted_keys: list[Path], threads: int = 1) -> Pipeline:
    """Verify, load and self-test a package, then wrap it in the pipeline for its task."""
    return _pipeline_for(package_dir, TrustedKeys.from_paths(trusted_keys), RuntimeOptions(num_threads=threads))


def _pipeline_for(package_dir: Path, trusted: TrustedKeys, options: RuntimeOptions) -> Pipeline:
    model = load_model(package_dir, trusted, options)
    if model.manifest.task == "quality_inspection":
        return QualityInspector(model)
    return HealthMonitor(model)


def _read_secret(path: Path, environ: Mapping[str, str], key: str = "mqtt.password_file") -> str:
    if not path.is_absolute() and environ.get("CREDENTIALS_DIRECTORY"):
        path = Path(environ["CREDENTIALS_DIRECTORY"]) / path
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read {path} ({exc.strerror})") from exc


def _sparkplug_source() -> TagSource | None:
    try:
        from edge_agent.ingest.sparkplug import SparkplugIngest
    except ImportError:  # the protobuf runtime is missing: the agent runs without Sparkplug
        log.warning("Sparkplug B ingest unavailable (protobuf missing)")
        return None
    return SparkplugIngest()


class Agent:
    """The running gateway agent: models, queues, workers, store, MQTT and the service between them."""

    def __init__(self, config: AgentConfig, environ: Mapping[str, str] | None = None) -> None:
        self.config = config
        env = os.environ if environ is None else environ
        self.stats = AgentStats()
        trusted = TrustedKeys.from_paths(config.models.trusted_keys)
        options = RuntimeOptions(num_threads=config.models.threads)
        self.models = ModelManager(config.models.dir, lambda path: _pipeline_for(path, trusted, options))
        self.store = ResultStore(config.store.path, config.store.retention_days)
        self.outbox = Outbox(config.outbox.path, config.outbox.budget_bytes, config.outbox.commit_interval_ms / 1000)
        q = config.queues
        self.frames: DropQueue[WorkItem] = DropQueue(q.frames.size, q.frames.policy, q.frames.block_ms / 1000)
        self.windows: DropQueue[WorkItem] = DropQueue(q.windows.size, q.windows.policy, q.windows.block_ms / 1000)
        default_model = config.models.maintenance
        asset_models: dict[str, str] = {}
        missing = []
        for asset in config.assets:
            chosen = asset.model or default_model
            if chosen:
                asset_models[asset.id] = chosen
            else:
                missing.append(asset.id)
        if missing:
            raise ConfigError(f"assets {missing} name no model and models.maintenance is not set")
        self.line_tracker: LineTracker | None = None
        if config.line.units:
            self.line_tracker = LineTracker(config.line, emit=lambda kind, **detail: self.service.event(kind, **detail))
        image_limits = ImageLimits()  # one set of limits: the MQTT thread's header check and the workers' decode
        self.service = AgentService(
            Topics(config.gateway.ns, config.gateway.id),
            cameras={c.id: c.model for c in config.cameras},
            assets=asset_models,
            frames=self.frames,
            windows=self.windows,
            stats=self.stats,
            store=self.store,
            tag_source=_sparkplug_source(),
            outbox=self.outbox,
            capture=HardExampleCapture(config.capture),
            frame_limits=image_limits,
            line=self.line_tracker,
        )
        self.line, self.opcua = self._build_line(config)
        defaults = {a.id: AssetDefaults(a.bearing, a.rpm) for a in config.assets}
        self.baselines = BaselineManager(
            BaselineStore(config.baseline_dir()),
            {asset: AssetPlan(model, config.baseline_for(asset)) for asset, model in asset_models.items()},
            emit=self.service.event,
            upstream=self.service.upstream,
            count=self.stats.count,
            save_interval_s=config.baseline.save_interval_s,
        )
        self.shadow = ShadowEvaluator()
        web = WebSettings.model_validate(config.web.model_dump())
        self.thumbnails = ThumbnailBuffer(web.thumbnails, web.thumbnail_width)
        # the tap stores a thumbnail of each inspected frame, then passes observer and result calls on unchanged
        tap = ThumbnailTap(self.service, self.thumbnails, self.shadow.observe)
        self.pools = [
            WorkerPool(
                "frames",
                self.frames,
                InspectionWorker(self.models.get, tap, image_limits, tap.observe).handle,
                q.workers,
                1,
            ),
            WorkerPool(
                "windows",
                self.windows,
                MaintenanceWorker(
                    self.models.get, self.service, defaults, self.shadow.observe, self.baselines.judge_window
                ).handle,
                q.workers,
                q.max_batch,
            ),
        ]
        mqtt = config.mqtt
        topics = self.service.topics
        self.mqtt = MqttClient(
            MqttSettings(
                host=mqtt.host,
                port=mqtt.port,
                client_id=mqtt.client_id or f"edge-agent-{config.gateway.id}",
                keepalive_s=mqtt.keepalive_s,
                session_expiry_s=mqtt.session_expiry_s,
                username=mqtt.username,
                password=_read_secret(mqtt.password_file, env) if mqtt.password_file else None,
                ca_file=mqtt.tls.ca_file if mqtt.tls else None,
                cert_file=mqtt.tls.cert_file if mqtt.tls else None,
                key_file=mqtt.tls.key_file if mqtt.tls else None,
                reconnect_min_s=mqtt.reconnect_min_s,
                reconnect_max_s=mqtt.reconnect_max_s,
                replay_acked_s=mqtt.replay_acked_s,
                replay_after_session_loss_s=mqtt.replay_after_session_loss_s,
                will_topic=topics.status,
                will_payload=json.dumps({"state": "offline", "gateway": config.gateway.id, "reason": "lost"}).encode(),
            ),
            on_message=self.service.on_message,
            on_connection=self.service.on_connection,
        )
        self.service.attach(self.mqtt)
        self.updater: Updater | None = None
        self.uploader: Uploader | None = None
        self._processed_seen = 0
        if config.cloud.url:
            token = self._cloud_token(config, env)
            self.updater = self._build_updater(config, token, trusted)
            self.uploader = Uploader(
                self.outbox,
                UrllibTransport(),
                UploaderSettings(
                    base_url=config.cloud.url,
                    device_id=config.cloud.device_id or config.gateway.id,
                    token=token,
                    max_records=config.outbox.batch_records,
                    busy_share=config.outbox.upload_share_when_busy,
                ),
                load=self._inference_load,
            )
        self.notifier = SystemdNotifier(env)
        self._stop = threading.Event()
        self.ready = threading.Event()
        self.web_view = AgentView(
            self.stats,
            self.models,
            self.store,
            self.service,
            self.frames,
            self.windows,
            ota_history=self._ota_history,
            thumbnails=self.thumbnails,
            label_sink=self._operator_label,
            ready=self.ready.is_set,
            outbox=self.outbox,
            baselines=self.baselines,
        )
        self.web_settings = web
        self.api = self._build_api(config, env, defaults, image_limits)
        collectors: list[Collector] = [self.api.metrics] if self.api is not None else []
        blueprints = []
        if self.line is not None:
            collectors.append(LineCollector(self.line))
            blueprints.append(line_blueprint(self.line))
        self.web_app = create_app(  # reads secrets now
            self.web_view, web, environ=env, collectors=collectors, blueprints=blueprints
        )
        self.web: ServerHandle | None = None

    def _build_line(self, config: AgentConfig) -> tuple[LineEngine | None, OpcUaSource | None]:
        """The line KPI engine over the tracker, and the OPC UA source when units read opcua: tags."""
        tracker = self.line_tracker
        if tracker is None:
            return None, None
        engine = LineEngine(
            config.line,
            config.gateway.ns,
            tracker,
            LineStateFile(config.store.path.parent / "line-state.json"),
            publish=self.service.publish_retained,
            upstream=self.service.upstream,
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

    def _build_api(
        self, config: AgentConfig, env: Mapping[str, str], assets: dict[str, AssetDefaults], limits: ImageLimits
    ) -> ApiServer | None:
        """The Open Inference Protocol endpoints over the same model manager; both ports are bound now."""
        if not config.api.enabled:
            return None
        token_file = config.api.token_file
        return ApiServer(
            config.api,
            self.models,
            assets,
            limits,
            ready=lambda: set(self.model_names()) <= set(self.models.names()),
            token=_read_secret(token_file, env, "api.token_file") if token_file else None,
            mqtt_backlogged=lambda: len(self.frames) > 0 or len(self.windows) > 0,
        )

    def _inference_load(self) -> InferenceLoad:
        """How busy inference was since the uploader last asked: inputs waiting in a queue, results made
        meanwhile, or neither."""
        processed = self.stats.total("processed")
        active, self._processed_seen = processed != self._processed_seen, processed
        if len(self.frames) > 0 or len(self.windows) > 0:
            return InferenceLoad.BACKLOGGED
        return InferenceLoad.ACTIVE if active else InferenceLoad.IDLE

    def _ota_history(self) -> list[dict[str, Any]]:
        return list(self.updater.state.record.history) if self.updater is not None else []

    def _operator_label(self, camera: str, part_id: str, label: str, operator: str) -> None:
        self.service.label(camera, label, part_id, None, f"operator:{operator}")

    @staticmethod
    def _cloud_token(config: AgentConfig, env: Mapping[str, str]) -> str:
        if config.cloud.token_file is None:
            raise ConfigError("cloud.token_file: required when cloud.url is set")
        return _read_secret(config.cloud.token_file, env, "cloud.token_file")

    def _build_updater(self, config: AgentConfig, token: str, trusted: TrustedKeys) -> Updater:
        cloud = config.cloud
        settings = UpdaterSettings(
            base_url=str(cloud.url),
            device_id=cloud.device_id or config.gateway.id,
            token=token,
            poll_s=cloud.poll_s,
            disk_factor=config.ota.disk_factor,
            probation_max_error_rate=config.ota.probation_max_error_rate,
            probation_min_items=config.ota.probation_min_items,
        )
        return Updater(settings, UrllibTransport(), self.models, trusted, self.shadow, self.stats, self.service.event)

    def model_names(self) -> list[str]:
        """Every model the config refers to."""
        return sorted(set(self.service.cameras.values()) | set(self.service.assets.values()))

    def start(self) -> None:
        """Load every model (fully, with self-test), then start the store, workers and MQTT."""
        if self.updater is not None:
            self.updater.recover(self.model_names())
            for name in self.model_names():
                self.updater.load_with_fallback(name)
        else:
            for name in self.model_names():
                self.models.load(name)
        self.service.models_info = self.models.describe()
        # before the store, workers and MQTT start: a taken port then stops start-up with nothing running
        web = self.web_settings
        self.web = serve_in_thread(self.web_app, web.host, web.port, web.threads)
        if self.api is not None:
            self.api.start()
        self.store.start()
        if self.line is not None:
            self.line.start()  # before MQTT: the first sample must find the resumed timeline
        if self.opcua is not None:
            self.opcua.start()
        self.baselines.start()  # before the workers: the first window must find its asset's baseline loaded
        for pool in self.pools:
            pool.start()
        self.mqtt.subscribe(self.service.subscriptions())
        self.mqtt.start()
        if self.updater is not None:
            threading.Thread(target=self.updater.run, name="ota", daemon=True).start()
        if self.uploader is not None:
            threading.Thread(target=self.uploader.run, name="outbox-uploader", daemon=True).start()
        if self.outbox.moved_aside is not None:
            self.service.event("outbox_corrupt", moved_to=str(self.outbox.moved_aside))

    def follow_pointers(self) -> None:
        """Load a model whose NAME/current pointer changed on disk (an operator rollback)."""
        for name in self.models.names():
            pipeline = self.models.get(name)
            pointed = read_pointer(self.models.models_dir, name)
            if pipeline is None or pointed is None or pointed == pipeline.model.manifest.version:
                continue
            try:
                self.models.load(name)
                self.service.event("model_switched", model=name, version=pointed, reason="pointer changed on disk")
            except EdgeAgentError as exc:
                log.error("cannot switch %s to %s: %s", name, pointed, exc)
        self.service.models_info = self.models.describe()

    def run(self, ready_timeout_s: float = 30.0) -> None:
        """Main loop until stop(): readiness, systemd watchdog, status refresh, periodic service work."""
        started = time.monotonic()
        last_status = time.monotonic()
        last_watchdog = 0.0
        last_pointer_check = now = time.monotonic()
        while not self._stop.wait(0.25):
            now = time.monotonic()
            if not self.ready.is_set() and self.mqtt.connected:
                self.ready.set()
                self.notifier.ready(f"serving {len(self.models.names())} models")
                log.info("ready in %.2f s", now - started)
            self.service.tick()
            self._baseline_tick()
            self._line_tick()
            if now - last_pointer_check >= 2.0:
                last_pointer_check = now
                self.follow_pointers()
            if now - last_status >= self.config.mqtt.status_interval_s:
                self.service.publish_status()
                last_status = now
            interval = self.notifier.watchdog_interval_s
            workers_alive = all(now - pool.heartbeat < 5.0 for pool in self.pools)
            if interval and workers_alive and now - last_watchdog >= min(interval, 5.0):
                self.notifier.watchdog()
                last_watchdog = now
            if not self.ready.is_set() and now - started > ready_timeout_s and self.mqtt.last_error:
                log.error("still not connected to the broker: %s", self.mqtt.last_error)
                started = now

    def _baseline_tick(self) -> None:
        try:
            self.baselines.tick()
        except Exception:  # operator requests and progress saves must never stop the main loop
            log.exception("baseline housekeeping failed")

    def _line_tick(self) -> None:
        if self.line is None:
            return
        try:
            self.line.tick()
        except Exception:  # a KPI computation must never stop the main loop
            log.exception("line KPI tick failed")

    def stop(self) -> None:
        """Drain the queues, publish offline, disconnect, flush the store."""
        self.notifier.stopping()
        self._stop.set()
        if self.web is not None:
            self.web.stop()
        if self.api is not None:
            self.api.stop()
        if self.updater is not None:
            self.updater.stop()
        if self.uploader is not None:
            self.uploader.stop()
        self.frames.close()
        self.windows.close()
        for pool in self.pools:
            pool.join(10.0)
        self.baselines.flush()  # the commissioning windows since the last save
        if self.opcua is not None:
            self.opcua.stop()
        if self.line is not None:
            self.line.save()  # a restart resumes the shift's totals from here
        self.outbox.flush()  # the last results are published once committed: before MQTT says offline
        offline = json.dumps({"state": "offline", "gateway": self.config.gateway.id, "reason": "stopped"})
        self.mqtt.stop(self.service.topics.status, offline.encode())
        self.store.close()
        self.outbox.close()

    def request_stop(self) -> None:
        """Ask run() to return (signal handlers call this)."""
        self._stop.set()


def run_agent(config: AgentConfig) -> int:
    """`edge-agent run`: start, serve until SIGTERM/SIGINT, stop cleanly."""
    import signal

    agent = Agent(config)
    try:
        agent.start()
    except EdgeAgentError:
        agent.store.close()
        agent.outbox.close()
        raise
    signal.signal(signal.SIGTERM, lambda *_: agent.request_stop())
    signal.signal(signal.SIGINT, lambda *_: agent.request_stop())
    try:
        agent.run()
    finally:
        agent.stop()
    return 0

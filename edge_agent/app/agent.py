"""The running gateway agent: models, queues, workers, store, MQTT and the service between them."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from edge_agent.app.parts import (
    build_api,
    build_line,
    build_updater,
    cloud_token,
    mqtt_settings,
    sparkplug_source,
)
from edge_agent.app.pipelines import _pipeline_for
from edge_agent.baseline.manager import AssetPlan, BaselineManager
from edge_agent.baseline.store import BaselineStore
from edge_agent.config import AgentConfig
from edge_agent.errors import ConfigError, EdgeAgentError
from edge_agent.ingest.images import ImageLimits
from edge_agent.line.tracker import LineTracker
from edge_agent.model_manager import ModelManager
from edge_agent.mqtt import MqttClient
from edge_agent.ota.http import UrllibTransport
from edge_agent.ota.install import read_pointer
from edge_agent.ota.shadow import ShadowEvaluator
from edge_agent.ota.updater import Updater
from edge_agent.outbox.capture import HardExampleCapture
from edge_agent.outbox.store import Outbox
from edge_agent.outbox.uploader import InferenceLoad, Uploader, UploaderSettings
from edge_agent.pipelines.workers import AssetDefaults, InspectionWorker, MaintenanceWorker, WorkerPool, WorkItem
from edge_agent.queues import DropQueue
from edge_agent.runtimes import RuntimeOptions
from edge_agent.service import AgentService, Topics
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


class Agent:
    """The running gateway agent: models, queues, workers, store, MQTT and the service between them."""

    def __init__(self, config: AgentConfig, environ: Mapping[str, str] | None = None) -> None:
        self.config = config
        env = os.environ if environ is None else environ
        self.stats = AgentStats()
        trusted = TrustedKeys.from_paths(config.models.trusted_keys)
        # one model instance per worker thread, so the workers of a pipeline never queue for one interpreter
        options = RuntimeOptions(num_threads=config.models.threads, parallel=config.queues.workers)
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
            tag_source=sparkplug_source(),
            outbox=self.outbox,
            capture=HardExampleCapture(config.capture),
            frame_limits=image_limits,
            line=self.line_tracker,
        )
        self.line, self.opcua = build_line(config, self.line_tracker, self.service)
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
        self.mqtt = MqttClient(
            mqtt_settings(config, env, self.service.topics.status),
            on_message=self.service.on_message,
            on_connection=self.service.on_connection,
        )
        self.service.attach(self.mqtt)
        self.updater: Updater | None = None
        self.uploader: Uploader | None = None
        self._processed_seen = 0
        if config.cloud.url:
            token = cloud_token(config, env)
            self.updater = build_updater(
                config, token, trusted, self.models, self.shadow, self.stats, self.service.event
            )
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
        self.api = build_api(
            config,
            env,
            self.models,
            defaults,
            image_limits,
            ready=lambda: set(self.model_names()) <= set(self.models.names()),
            mqtt_backlogged=lambda: len(self.frames) > 0 or len(self.windows) > 0,
        )
        collectors: list[Collector] = [self.api.metrics] if self.api is not None else []
        blueprints = []
        if self.line is not None:
            collectors.append(LineCollector(self.line))
            blueprints.append(line_blueprint(self.line))
        self.web_app = create_app(  # reads secrets now
            self.web_view, web, environ=env, collectors=collectors, blueprints=blueprints
        )
        self.web: ServerHandle | None = None

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
            self.line.save(final=True)  # a restart resumes the shift's totals from here
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

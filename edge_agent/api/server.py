"""The API as one service: inference core, batcher, guard and metrics behind the HTTP and gRPC endpoints."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, Mapping

from edge_agent.api.batcher import BatchSettings, DynamicBatcher
from edge_agent.api.catalog import ModelCatalog
from edge_agent.api.guard import ApiMetrics, Guard
from edge_agent.api.http import HttpFrontEnd, HttpServer
from edge_agent.api.inference import InferenceService
from edge_agent.config_api import ApiConfig
from edge_agent.errors import ConfigError
from edge_agent.ingest.images import ImageLimits
from edge_agent.model_manager import ModelManager
from edge_agent.pipelines.workers import AssetDefaults
from edge_agent.web.settings import is_loopback

log = logging.getLogger(__name__)
MIN_TOKEN_CHARS = 16


def _tls_context(config: ApiConfig) -> ssl.SSLContext | None:
    if config.tls is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(config.tls.cert_file, config.tls.key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"api.tls: cannot load {config.tls.cert_file} / {config.tls.key_file} ({exc})") from exc
    return context


def _grpc_importable() -> bool:
    """False (gRPC off, logged) when this process already holds another copy of the protocol's `inference.*`
    messages: an agent embedded beside tritonclient.grpc or the kserve SDK. The `edge-agent run` process never is."""
    try:
        import edge_agent.api.grpc_server  # noqa: F401
    except TypeError as exc:  # protobuf refuses a second file defining the same message names
        log.error("gRPC endpoint off: %s (this process already imported another inference.* gRPC module)", exc)
        return False
    return True


class ApiServer:
    """Binds both ports at construction (a taken port stops start-up); start() serves, stop() drains."""

    def __init__(
        self,
        config: ApiConfig,
        models: ModelManager,
        assets: Mapping[str, AssetDefaults],
        image_limits: ImageLimits,
        ready: Callable[[], bool],
        token: str | None,
        mqtt_backlogged: Callable[[], bool],
    ) -> None:
        if token is not None and len(token) < MIN_TOKEN_CHARS:
            raise ConfigError(f"api.token_file: the token must be at least {MIN_TOKEN_CHARS} characters")
        if token is None and not is_loopback(config.host):
            raise ConfigError(f"api.host: {config.host} is not loopback, so api.token_file is required")
        self.metrics = ApiMetrics()
        self.batcher = DynamicBatcher(
            BatchSettings(
                max_queue_delay_s=config.max_queue_delay_ms / 1000,
                preferred_batch_size=config.preferred_batch_size,
                max_batch_size=config.max_batch_size,
                queue_size=config.queue_size,
                share_when_busy=config.share_when_busy,
            ),
            mqtt_backlogged,
            self.metrics.queue.observe,
        )
        self.service = InferenceService(
            ModelCatalog(models, config.pinned_versions), self.batcher, assets, image_limits, ready
        )
        guard = Guard(token, config.per_client_concurrency)
        front = HttpFrontEnd(self.service, guard, self.metrics, config.max_request_bytes)
        self.http = HttpServer(front, config.host, config.http_port, _tls_context(config))
        self.grpc = None
        if config.grpc_port is not None and _grpc_importable():
            from edge_agent.api.grpc_server import GrpcServer, InferenceServicer  # grpc loads only when served

            tls = (config.tls.cert_file, config.tls.key_file) if config.tls else None
            servicer = InferenceServicer(self.service, guard, self.metrics)
            self.grpc = GrpcServer(
                servicer, config.host, config.grpc_port, config.threads, config.max_request_bytes, tls
            )

    def start(self) -> None:
        """Start batching and both endpoints."""
        self.batcher.start()
        self.http.start()
        if self.grpc is not None:
            self.grpc.start()

    def stop(self) -> None:
        """Stop the endpoints, then the batcher once queued requests ran."""
        self.http.stop()
        if self.grpc is not None:
            self.grpc.stop()
        self.batcher.close()

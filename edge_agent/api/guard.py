"""Who may call the API: the bearer token, the per-client concurrency limit, and the count of every call."""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Histogram
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from edge_agent.api.tensors import ApiError, Status

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048)
UNKNOWN_MODEL = "_unknown"


class ApiMetrics(Collector):
    """edge_agent_api_* families, kept out of any global registry; the status page's /metrics collects them."""

    def __init__(self) -> None:
        self.requests = Counter(
            "edge_agent_api_requests",
            "API calls by model, protocol and result code",
            ["model", "protocol", "code"],
            registry=None,
        )
        self.latency = Histogram(
            "edge_agent_api_request_seconds",
            "API call time, receipt to answer",
            ["protocol"],
            buckets=LATENCY_BUCKETS,
            registry=None,
        )
        self.queue = Histogram(
            "edge_agent_api_queue_seconds",
            "Time API items waited for a model run",
            buckets=LATENCY_BUCKETS,
            registry=None,
        )

    def collect(self) -> Iterator[Metric]:
        """Every API family."""
        yield from self.requests.collect()
        yield from self.latency.collect()
        yield from self.queue.collect()

    def count(self, model: str, known: list[str], protocol: str, code: str, started: float) -> None:
        """Count one finished call; names outside the served models share one label (bounded cardinality)."""
        label = model if model in known else UNKNOWN_MODEL
        self.requests.labels(label, protocol, code).inc()
        self.latency.labels(protocol).observe(time.perf_counter() - started)


class Guard:
    """Token check and per-client in-flight limit, shared by the HTTP and gRPC front ends."""

    def __init__(self, token: str | None, per_client: int) -> None:
        self._token = token.encode() if token else None
        self._per_client = per_client
        self._inflight: dict[str, int] = {}
        self._lock = threading.Lock()

    def check_token(self, authorization: str | None) -> None:
        """UNAUTHENTICATED unless `Bearer TOKEN` matches (when a token is configured)."""
        if self._token is None:
            return
        if not authorization or not authorization.startswith("Bearer "):
            raise ApiError(Status.UNAUTHENTICATED, "missing bearer token (header 'authorization: Bearer TOKEN')")
        if not hmac.compare_digest(authorization[len("Bearer ") :].strip().encode(), self._token):
            raise ApiError(Status.UNAUTHENTICATED, "wrong bearer token")

    @contextmanager
    def client_slot(self, client: str) -> Iterator[None]:
        """Hold one of the client's in-flight slots; RESOURCE_EXHAUSTED when it has none left."""
        with self._lock:
            count = self._inflight.get(client, 0)
            if count >= self._per_client:
                raise ApiError(
                    Status.EXHAUSTED,
                    f"client {client} already has {count} requests in flight (limit {self._per_client})",
                )
            self._inflight[client] = count + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._inflight[client] - 1
                if left:
                    self._inflight[client] = left
                else:
                    del self._inflight[client]

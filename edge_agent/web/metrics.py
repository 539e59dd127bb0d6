"""/metrics: a prometheus-client Collector over the StatusView, in its own registry, `edge_agent_*` in base units."""

from __future__ import annotations

from collections.abc import Iterator
from typing import get_args

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from edge_agent.ota.state import OtaState
from edge_agent.stats import COUNTER_KINDS
from edge_agent.web.snapshot import LatencyInfo
from edge_agent.web.view import StatusView

OTA_STATES: tuple[str, ...] = get_args(OtaState)
INFER_PREFIX = "infer:"


def _add_summary(metric: Metric, labels: dict[str, str], latency: LatencyInfo) -> None:
    """Quantiles of the recent window plus lifetime count and sum, converted from ms to seconds."""
    for quantile, value_ms in (("0.5", latency.p50_ms), ("0.99", latency.p99_ms)):
        metric.add_sample(metric.name, {**labels, "quantile": quantile}, value_ms / 1000)
    metric.add_sample(metric.name + "_count", labels, float(latency.count))
    metric.add_sample(metric.name + "_sum", labels, latency.sum_ms / 1000)


class AgentCollector(Collector):
    """Reads the view at every scrape; nothing is registered globally."""

    def __init__(self, view: StatusView) -> None:
        self._view = view

    def collect(self) -> Iterator[Metric]:
        """Every edge_agent_* family."""
        view = self._view
        identity = view.identity()
        build = InfoMetricFamily("edge_agent_build", "Agent build", labels=["gateway"])
        build.add_metric([identity.gateway], {"version": identity.agent_version})
        yield build
        yield GaugeMetricFamily("edge_agent_start_time_seconds", "Agent start (unix time)", value=identity.started)
        broker = view.broker()
        yield GaugeMetricFamily("edge_agent_broker_connected", "1 when connected to the broker", value=broker.connected)
        ready = view.readiness()
        yield GaugeMetricFamily("edge_agent_ready", "1 when /readyz answers 200", value=ready.ready)
        yield from self._models()
        yield from self._latency()
        yield from self._counters()
        yield from self._queues()
        yield from self._outbox()
        yield self._ota()
        yield from _baseline_families(view)

    def _models(self) -> Iterator[Metric]:
        info = InfoMetricFamily("edge_agent_model", "Active model versions", labels=["name"])
        selftest = GaugeMetricFamily(
            "edge_agent_model_selftest_seconds", "Self-test time at load", labels=["model", "version"]
        )
        for model in self._view.models():
            info.add_metric(
                [model.name],
                {"version": model.version, "task": model.task, "runtime": model.runtime, "sha256": model.sha256},
            )
            selftest.add_metric([model.name, model.version], model.selftest_ms / 1000)
        yield info
        yield selftest

    def _latency(self) -> Iterator[Metric]:
        inference = Metric("edge_agent_inference_seconds", "Model run time per item (recent quantiles)", "summary")
        pipeline = Metric(
            "edge_agent_pipeline_latency_seconds", "Receive-to-publish latency (recent quantiles)", "summary"
        )
        for name, latency in sorted(self._view.latency().items()):
            if name.startswith(INFER_PREFIX):
                model, _, version = name[len(INFER_PREFIX) :].rpartition("@")
                _add_summary(inference, {"model": model, "version": version}, latency)
            else:
                _add_summary(pipeline, {"pipeline": name}, latency)
        yield inference
        yield pipeline

    def _counters(self) -> Iterator[Metric]:
        counters = self._view.counters()
        for kind in COUNTER_KINDS:
            family = CounterMetricFamily(
                f"edge_agent_messages_{kind}", f"Messages {kind}, per stream", labels=["stream"]
            )
            for (counter_kind, stream), value in sorted(counters.items()):
                if counter_kind == kind:
                    family.add_metric([stream], float(value))
            yield family
        others = (
            ("model_ok", "edge_agent_model_results", "Results per model", "model"),
            ("model_failed", "edge_agent_model_failures", "Failed items per model", "model"),
            ("captured", "edge_agent_samples_captured", "Hard examples captured per source", "source"),
            ("uncertain", "edge_agent_health_uncertain", "Health results whose state is uncertain", "asset"),
            (
                "baseline_changed",
                "edge_agent_baseline_changed_states",
                "Health results whose state the asset's baseline changed from the model's",
                "asset",
            ),
        )
        for kind, name, doc, label in others:
            family = CounterMetricFamily(name, doc, labels=[label])
            for (counter_kind, key), value in sorted(counters.items()):
                if counter_kind == kind:
                    family.add_metric([key], float(value))
            yield family

    def _queues(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily("edge_agent_queue_depth", "Items waiting", labels=["queue"])
        capacity = GaugeMetricFamily("edge_agent_queue_capacity", "Queue size limit", labels=["queue"])
        dropped = CounterMetricFamily("edge_agent_queue_dropped", "Items dropped by the queue policy", labels=["queue"])
        for queue in self._view.queues():
            depth.add_metric([queue.name], queue.depth)
            capacity.add_metric([queue.name], queue.capacity)
            dropped.add_metric([queue.name], queue.dropped)
        yield from (depth, capacity, dropped)

    def _outbox(self) -> Iterator[Metric]:
        box = self._view.outbox()
        yield GaugeMetricFamily(
            "edge_agent_outbox_records", "Records waiting to upload", value=box.records if box else 0
        )
        yield GaugeMetricFamily("edge_agent_outbox_bytes", "Bytes waiting to upload", value=box.bytes if box else 0)
        yield GaugeMetricFamily(
            "edge_agent_outbox_budget_bytes", "Outbox byte budget", value=box.budget_bytes if box else 0
        )
        dropped = CounterMetricFamily("edge_agent_outbox_dropped", "Records dropped by the budget", labels=["class"])
        for name, count in sorted((box.dropped if box else {}).items()):
            dropped.add_metric([name], count)
        yield dropped

    def _ota(self) -> Metric:
        """One series per model and state, 1 for the state of the model's latest offer."""
        family = GaugeMetricFamily(
            "edge_agent_ota_state", "OTA state of the latest offer per model", labels=["model", "version", "state"]
        )
        latest: dict[str, dict[str, object]] = {}
        for entry in self._view.ota_history():  # newest first
            name = entry.get("name")
            if isinstance(name, str) and name not in latest:
                latest[name] = entry
        for name, entry in sorted(latest.items()):
            for state in OTA_STATES:
                family.add_metric(
                    [name, str(entry.get("version", "")), state], 1.0 if entry.get("state") == state else 0.0
                )
        return family


BASELINE_STATES = ("commissioning", "learned", "refused", "off")


def _baseline_families(view: StatusView) -> Iterator[Metric]:
    state = GaugeMetricFamily(
        "edge_agent_baseline_state", "1 for the baseline state of each asset", labels=["asset", "state"]
    )
    windows = GaugeMetricFamily(
        "edge_agent_baseline_commissioning_windows", "Windows learned so far while commissioning", labels=["asset"]
    )
    for info in view.baselines():
        for name in BASELINE_STATES:
            state.add_metric([info.asset, name], 1.0 if info.status == name else 0.0)
        if info.progress is not None:
            windows.add_metric([info.asset], float(info.progress[0]))
    yield from (state, windows)


def metrics_registry(view: StatusView) -> CollectorRegistry:
    """A private registry holding only the agent collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AgentCollector(view))
    return registry

"""OPC UA source: subscribes to the line's opcua: node ids with asyncua (imported here only) in its own thread."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from edge_agent.config_line import OpcUaConfig
from edge_agent.errors import EdgeAgentError
from edge_agent.ingest.tags import QUALITY_BAD, QUALITY_GOOD, TagUpdate

log = logging.getLogger(__name__)
SOURCE = "opcua"
QUEUE_SIZE = 4096


class OpcUaError(EdgeAgentError):
    """The OPC UA server cannot be reached or refused a subscription."""


def _ms(moment: datetime | None) -> int:
    return int(moment.timestamp() * 1000) if moment is not None else 0


class OpcUaSource:
    """Keeps a subscription on every node; reports values as TagUpdate('opcua', NODEID) and each connection change."""

    def __init__(
        self,
        config: OpcUaConfig,
        node_ids: list[str],
        on_tag: Callable[[TagUpdate], None],
        on_connection: Callable[[bool, str], None],
        on_problem: Callable[[str, str], None],
    ) -> None:
        self.config = config
        self.node_ids = sorted(set(node_ids))
        self._on_tag = on_tag
        self._on_connection = on_connection
        self._on_problem = on_problem
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = False
        self.reconnects = 0

    def start(self) -> None:
        """Run the client loop in a daemon thread (it reconnects until stop())."""
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), name="opcua", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Disconnect and join the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
        """asyncua's subscription callback: one monitored value changed (or its status did)."""
        value = data.monitored_item.Value
        good = value.StatusCode is None or value.StatusCode.is_good()
        stamp = _ms(value.SourceTimestamp) or _ms(value.ServerTimestamp)
        quality = QUALITY_GOOD if good else QUALITY_BAD
        self._on_tag(TagUpdate(SOURCE, node.nodeid.to_string(), val if good else None, stamp, quality, None, SOURCE))

    def status_change_notification(self, status: Any) -> None:
        """The server reports the subscription's status (e.g. BadTimeout): treated as a lost connection."""
        self._set_connected(False, f"subscription status {status}")

    def _set_connected(self, connected: bool, detail: str) -> None:
        if connected != self.connected:
            self.connected = connected
            log.log(logging.INFO if connected else logging.WARNING, "OPC UA %s: %s", self.config.url, detail)
            self._on_connection(connected, detail)

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self._session()
            except Exception as exc:  # any library or network failure: report, wait, reconnect
                self._set_connected(False, f"{type(exc).__name__}: {exc}")
            if not self._stop.is_set():
                self.reconnects += 1
                await asyncio.sleep(self.config.reconnect_s)

    async def _session(self) -> None:
        from asyncua import Client, ua

        client = Client(self.config.url, timeout=self.config.timeout_s)
        await client.connect()
        try:
            subscription = await client.create_subscription(self.config.publishing_interval_ms, self)
            nodes = []
            for node_id in self.node_ids:
                try:
                    node = client.get_node(node_id)
                    await node.read_browse_name()  # a node id the server no longer has fails here, not silently
                    nodes.append(node)
                except (ua.UaError, ValueError) as exc:
                    self._on_problem(node_id, f"node {node_id} unavailable: {exc}")
            if nodes:
                # a deep queue per item: a burst of changes between two publishes must all arrive, in order; and a
                # new source timestamp with the same value is news too (a PLC's heartbeat, a state confirmed after
                # a reconnect), which the default trigger (status or value) would drop; subscribe_data_change
                # takes no filter, hence _subscribe
                trigger = ua.DataChangeFilter(Trigger=ua.DataChangeTrigger.StatusValueTimestamp)
                await subscription._subscribe(nodes, mfilter=trigger, queuesize=QUEUE_SIZE)
            self._set_connected(True, f"subscribed to {len(nodes)} of {len(self.node_ids)} nodes")
            while not self._stop.is_set():
                await asyncio.sleep(min(1.0, self.config.reconnect_s))
                # a dead TCP peer is only noticed by asking: read the server state within the timeout
                await asyncio.wait_for(client.nodes.server_state.read_value(), self.config.timeout_s)
        finally:
            try:
                await asyncio.wait_for(client.disconnect(), 2.0)
            except Exception:  # the connection is already gone: nothing left to close cleanly
                log.debug("OPC UA disconnect after loss failed", exc_info=True)
            self._set_connected(False, "disconnected")


def wait_connected(source: OpcUaSource, timeout_s: float) -> bool:
    """True once the source is subscribed (tests and start-up logs)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if source.connected:
            return True
        time.sleep(0.05)
    return source.connected

"""A simulated PLC's OPC UA server (asyncua, imported here only): one variable per unit tag, source-timestamped."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine, Iterable
from datetime import datetime, timezone
from typing import Any, TypeVar

from edge_agent.demo.plc_line import Sample
from edge_agent.errors import EdgeAgentError

log = logging.getLogger(__name__)
NAMESPACE = "urn:edge-agent:demo-plc"
TAGS = ("state", "product", "speed", "total", "reject")
T = TypeVar("T")


class OpcUaPlcError(EdgeAgentError):
    """The simulated OPC UA server did not start or refused a write."""


def _stamped(variant: Any, ts_ms: int) -> Any:
    """A DataValue whose source and server timestamps are ts_ms (simulated time, not the server's clock)."""
    from asyncua import ua

    stamp: Any = datetime.fromtimestamp(ts_ms / 1000, tz=timezone.utc)  # ua.DateTime is a datetime
    return ua.DataValue(variant, SourceTimestamp=stamp, ServerTimestamp=stamp)


class OpcUaPlc:
    """Serves Line/{unit}.{tag} variables on opc.tcp://127.0.0.1:PORT/plc; start/stop may repeat (outages)."""

    def __init__(self, port: int, units: Iterable[str], string_states: Iterable[str] = (), initial_ms: int = 0) -> None:
        self.port = port
        self.url = f"opc.tcp://127.0.0.1:{port}/plc"
        self.units = list(units)
        self.string_states = set(string_states)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: Any = None
        self._nodes: dict[tuple[str, str], Any] = {}
        self._values: dict[tuple[str, str], Any] = {}
        self.namespace_index = 2
        self.initial_ms = initial_ms  # source timestamp of the values before the first write (a replayed past)

    def node_ref(self, unit: str, tag: str) -> str:
        """The agent config's tag reference for a variable: opcua:ns=2;s=UNIT.TAG."""
        return f"opcua:ns={self.namespace_index};s={unit}.{tag}"

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
        assert self._loop is not None
        try:
            return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)
        except Exception as exc:
            raise OpcUaPlcError(f"OPC UA server on port {self.port}: {exc}") from exc

    def start(self) -> OpcUaPlc:
        """Start the server (with the last values written, as a PLC that restarts keeps its memory)."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="opcua-plc", daemon=True)
        self._thread.start()
        self._call(self._start())
        return self

    async def _start(self) -> None:
        from asyncua import Server, ua

        server = Server()
        await server.init()
        server.set_endpoint(self.url)
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        self.namespace_index = await server.register_namespace(NAMESPACE)
        line = await server.nodes.objects.add_object(self.namespace_index, "Line")
        for unit in self.units:
            for tag in TAGS:
                text = tag == "product" or (tag == "state" and unit in self.string_states)
                initial = ua.Variant("", ua.VariantType.String) if text else ua.Variant(0, ua.VariantType.Int64)
                if tag == "speed":
                    initial = ua.Variant(0.0, ua.VariantType.Double)
                node_id = ua.NodeId(ua.String(f"{unit}.{tag}"), ua.Int16(self.namespace_index))
                node = await line.add_variable(node_id, f"{unit}.{tag}", initial)
                self._nodes[(unit, tag)] = node
                kept = self._values.get((unit, tag))
                if kept is None and self.initial_ms:
                    kept = _stamped(initial, self.initial_ms)
                if kept is not None:  # with its old source timestamp: a restarted PLC does not invent news
                    await node.write_value(kept)
        await server.start()
        self._server = server

    def write(self, samples: Iterable[Sample]) -> None:
        """Write each sample with its source timestamp, in order."""
        self._call(self._write(list(samples)))

    async def _write(self, samples: list[Sample]) -> None:
        from asyncua import ua

        for sample in samples:
            key = (sample.unit, sample.tag)
            if key not in self._nodes:
                continue
            kind = {str: ua.VariantType.String, float: ua.VariantType.Double}.get(type(sample.value))
            variant = ua.Variant(sample.value, kind or ua.VariantType.Int64)
            value = _stamped(variant, sample.ts_ms)
            self._values[key] = value
            await self._nodes[key].write_value(value)

    async def _cancel_rest(self) -> None:
        """Cancel the server's leftover session tasks, so closing the loop destroys nothing pending."""
        current = asyncio.current_task()
        rest = [task for task in asyncio.all_tasks() if task is not current]
        for task in rest:
            task.cancel()
        await asyncio.gather(*rest, return_exceptions=True)

    def stop(self) -> None:
        """Stop the server and its loop (an outage, or the end)."""
        if self._loop is None:
            return
        if self._server is not None:
            self._call(self._server.stop())
            self._server = None
        self._call(self._cancel_rest())
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)
        self._loop.close()
        self._loop = None

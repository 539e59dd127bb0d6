"""A simulated Sparkplug B edge node (a PLC gateway): NBIRTH once, then NDATA by alias with seq numbers."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from edge_agent.ingest import sparkplug_b_pb2 as pb

DATATYPE_DOUBLE = 10
DATATYPE_BOOLEAN = 11
DATATYPE_INT64 = 4
METRICS = (("Line Speed", DATATYPE_DOUBLE), ("Motor Current", DATATYPE_DOUBLE), ("Running", DATATYPE_BOOLEAN))


class SparkplugNode:
    """Publishes a line PLC's metrics as Sparkplug B 3.0 (group `group`, node `node`)."""

    def __init__(self, publish: Callable[[str, bytes], None], group: str = "demo-plant", node: str = "line-1-plc"):
        self.publish = publish
        self.group = group
        self.node = node
        self.seq = 0
        self.bd_seq = 0
        self.rng = np.random.default_rng(3)
        self.born = False

    def _payload(self) -> pb.Payload:
        payload = pb.Payload()
        payload.timestamp = int(time.time() * 1000)
        payload.seq = self.seq
        self.seq = (self.seq + 1) % 256
        return payload

    def _values(self, elapsed_s: float) -> list[float | bool]:
        speed = 42.0 + 3.0 * np.sin(elapsed_s / 30.0) + float(self.rng.normal(0, 0.2))
        return [round(speed, 2), round(11.0 + speed / 10 + float(self.rng.normal(0, 0.1)), 2), True]

    def birth(self, elapsed_s: float = 0.0) -> None:
        """NBIRTH with names, aliases, datatypes and bdSeq."""
        self.seq = 0
        payload = self._payload()
        bd = payload.metrics.add()
        bd.name, bd.datatype, bd.long_value = "bdSeq", DATATYPE_INT64, self.bd_seq
        for alias, ((name, datatype), value) in enumerate(zip(METRICS, self._values(elapsed_s)), start=1):
            metric = payload.metrics.add()
            metric.name, metric.alias, metric.datatype = name, alias, datatype
            self._set(metric, datatype, value)
        self.publish(f"spBv1.0/{self.group}/NBIRTH/{self.node}", payload.SerializeToString())
        self.born = True

    @staticmethod
    def _set(metric: pb.Payload.Metric, datatype: int, value: float | bool) -> None:
        if datatype == DATATYPE_BOOLEAN:
            metric.boolean_value = bool(value)
        else:
            metric.double_value = float(value)

    def data(self, elapsed_s: float) -> None:
        """NDATA by alias only."""
        if not self.born:
            self.birth(elapsed_s)
            return
        payload = self._payload()
        for alias, ((_, datatype), value) in enumerate(zip(METRICS, self._values(elapsed_s)), start=1):
            metric = payload.metrics.add()
            metric.alias, metric.datatype = alias, datatype
            self._set(metric, datatype, value)
        self.publish(f"spBv1.0/{self.group}/NDATA/{self.node}", payload.SerializeToString())

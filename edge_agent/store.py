"""Local result store: SQLModel tables in SQLite (WAL), written in batches by one thread, with retention."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import registry
from sqlmodel import Field, Session, SQLModel, col, create_engine, delete, select

from edge_agent.errors import EdgeAgentError

log = logging.getLogger(__name__)


class StoreError(EdgeAgentError):
    """The local store cannot be opened or written."""


class _AgentTable(SQLModel, registry=registry()):
    """Base of the agent's tables: their own metadata, apart from any other SQLModel app in the process."""


class InspectionRecord(_AgentTable, table=True):
    """One inspection result as the agent published it."""

    __tablename__ = "inspection_results"
    id: int | None = Field(default=None, primary_key=True)
    ts_ms: int = Field(index=True)
    camera: str = Field(index=True)
    part_id: str | None = Field(default=None, index=True)
    verdict: str
    label: str
    scores_json: str
    model_name: str
    model_version: str
    latency_ms: float


class HealthRecord(_AgentTable, table=True):
    """One asset health assessment as the agent published it."""

    __tablename__ = "health_results"
    id: int | None = Field(default=None, primary_key=True)
    ts_ms: int = Field(index=True)
    asset: str = Field(index=True)
    state: str
    anomaly_score: float
    health_index: float
    scores_json: str
    model_name: str
    model_version: str
    latency_ms: float


class EventRecord(_AgentTable, table=True):
    """An agent event (OTA, drops, malformed input, broker state)."""

    __tablename__ = "events"
    id: int | None = Field(default=None, primary_key=True)
    ts_ms: int = Field(index=True)
    type: str = Field(index=True)
    detail_json: str


def _enable_wal(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def open_engine(path: Path) -> Engine:
    """An SQLite engine in WAL mode with the tables created."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _enable_wal)
        _AgentTable.metadata.create_all(engine)
    except (OSError, SQLAlchemyError) as exc:
        raise StoreError(f"{path}: cannot open the result store ({exc})") from exc
    return engine


def _inspection_values(document: dict[str, Any]) -> dict[str, Any]:
    return {
        "ts_ms": document["ts_ms"],
        "camera": document["camera"],
        "part_id": document.get("part_id"),
        "verdict": document["verdict"],
        "label": document["label"],
        "scores_json": json.dumps(document["scores"]),
        "model_name": document["model"]["name"],
        "model_version": document["model"]["version"],
        "latency_ms": document["latency_ms"],
    }


def _health_values(document: dict[str, Any]) -> dict[str, Any]:
    return {
        "ts_ms": document["ts_ms"],
        "asset": document["asset"],
        "state": document["state"],
        "anomaly_score": document["anomaly_score"],
        "health_index": document["health_index"],
        "scores_json": json.dumps(document["scores"]),
        "model_name": document["model"]["name"],
        "model_version": document["model"]["version"],
        "latency_ms": document["latency_ms"],
    }


def inspection_record(document: dict[str, Any]) -> InspectionRecord:
    """Table row for a published inspection result."""
    return InspectionRecord(**_inspection_values(document))


def health_record(document: dict[str, Any]) -> HealthRecord:
    """Table row for a published health result."""
    return HealthRecord(**_health_values(document))


class ResultStore:
    """Queues rows from worker threads and commits them in batches from one writer thread."""

    def __init__(self, path: Path, retention_days: float, batch: int = 500, flush_s: float = 0.2) -> None:
        self.path = path
        self.engine = open_engine(path)
        self.retention_s = retention_days * 86400
        self._batch = batch
        self._flush_s = flush_s
        # appended by workers, drained by the writer on a timer: no per-row thread wake-up on the hot path
        self._pending: deque[tuple[str, dict[str, Any]] | SQLModel] = deque()
        self._max_pending = 50_000
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._write_loop, name="result-store", daemon=True)
        self._last_prune = 0.0
        self.written = 0
        self.dropped = 0
        self.errors = 0

    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    def add(self, row: SQLModel) -> None:
        """Queue a row; if the writer is far behind, the row is dropped and counted rather than block a worker."""
        if len(self._pending) >= self._max_pending:
            self.dropped += 1
            return
        self._pending.append(row)

    def add_result(self, kind: str, document: dict[str, Any]) -> None:
        """Queue a published result; its row is built on the writer thread, off the inference path."""
        if len(self._pending) >= self._max_pending:
            self.dropped += 1
            return
        self._pending.append((kind, document))

    def close(self, timeout: float = 5.0) -> None:
        """Flush what is queued and stop the writer."""
        self._stopping.set()
        if self._thread.is_alive():  # start-up may have failed before the writer started
            self._thread.join(timeout)
        self.engine.dispose()

    def _row(self, item: tuple[str, dict[str, Any]] | SQLModel) -> tuple[type[SQLModel], dict[str, Any]] | None:
        if isinstance(item, SQLModel):
            return type(item), item.model_dump(exclude={"id"})
        kind, document = item
        try:
            if kind == "inspection":
                return InspectionRecord, _inspection_values(document)
            return HealthRecord, _health_values(document)
        except (KeyError, TypeError) as exc:
            log.error("result store cannot keep a %s result: %s", kind, exc)
            return None

    def _write_loop(self) -> None:
        while True:
            stopping = self._stopping.wait(self._flush_s)
            while self._pending:
                rows: list[tuple[type[SQLModel], dict[str, Any]]] = []
                while self._pending and len(rows) < self._batch:
                    row = self._row(self._pending.popleft())
                    if row is not None:
                        rows.append(row)
                if rows:
                    self._commit(rows)
            self._maybe_prune()
            if stopping:
                return

    def _commit(self, rows: list[tuple[type[SQLModel], dict[str, Any]]]) -> None:
        # one executemany per table (SQLAlchemy Core), not an ORM object and unit of work per row: the writer
        # holds the GIL a fraction as long, and the paho and worker threads get that time back
        by_table: dict[type[SQLModel], list[dict[str, Any]]] = {}
        for table, values in rows:
            by_table.setdefault(table, []).append(values)
        try:
            with self.engine.begin() as connection:
                for table, batch in by_table.items():
                    connection.execute(insert(table), batch)
            self.written += len(rows)
        except SQLAlchemyError as exc:
            self.errors += 1
            log.error("result store write failed (%d rows lost): %s", len(rows), exc)

    def _maybe_prune(self) -> None:
        now = time.time()
        if now - self._last_prune < 600:
            return
        self._last_prune = now
        cutoff = int((now - self.retention_s) * 1000)
        try:
            with Session(self.engine) as session:
                for table in (InspectionRecord, HealthRecord, EventRecord):
                    session.exec(delete(table).where(col(table.ts_ms) < cutoff))
                session.commit()
        except SQLAlchemyError as exc:
            log.error("result store retention failed: %s", exc)

    def recent_inspections(self, limit: int = 20) -> list[InspectionRecord]:
        """Newest inspection rows first."""
        with Session(self.engine) as session:
            statement = select(InspectionRecord).order_by(col(InspectionRecord.id).desc()).limit(limit)
            return list(session.exec(statement))

    def recent_health(self, asset: str, limit: int = 200) -> list[HealthRecord]:
        """Newest health rows of one asset first."""
        with Session(self.engine) as session:
            statement = (
                select(HealthRecord)
                .where(HealthRecord.asset == asset)
                .order_by(col(HealthRecord.id).desc())
                .limit(limit)
            )
            return list(session.exec(statement))

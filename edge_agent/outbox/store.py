"""The store-and-forward outbox: one SQLite (WAL) file with a byte budget, priority classes and exact drop counts.

Durability: appends are group-committed by one writer thread with `synchronous=FULL`, so an append whose
`wait()` returned is on disk (WAL fsynced). What a power cut can lose is what was queued but not yet committed:
at most one group-commit interval (`commit_interval_s`, 50 ms by default) plus the writer's queue. A kill -9
loses nothing that was acknowledged. A result is published over MQTT from `then`, after its record's commit, so
that whatever a subscriber has seen also reaches the cloud, whenever the process dies.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from edge_agent.errors import EdgeAgentError

log = logging.getLogger(__name__)

# DESIGN.md section 7: events > maintenance alerts > NG results > health > OK results > samples.
PRIORITIES = ("event", "alert", "ng_result", "health", "ok_result", "sample")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    stream TEXT NOT NULL,
    priority INTEGER NOT NULL,
    ts_ms INTEGER NOT NULL,
    size INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS records_victims ON records (priority DESC, seq);
CREATE TABLE IF NOT EXISTS drops (class TEXT PRIMARY KEY, count INTEGER NOT NULL);
"""


class OutboxError(EdgeAgentError):
    """The outbox cannot open or write its database."""


@dataclass(frozen=True)
class OutboxRecord:
    """One stored record."""

    seq: int
    stream: str
    priority: str
    ts_ms: int
    body: bytes


@dataclass
class _Pending:
    stream: str
    priority: int
    ts_ms: int
    body: bytes
    done: Future[int | None]
    then: Callable[[int | None], None] | None = None


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.executescript(_SCHEMA)
    connection.execute("PRAGMA quick_check").fetchone()
    if connection.execute("SELECT 1 FROM sqlite_sequence WHERE name = 'records'").fetchone() is None:
        # A new outbox (first start, or a corrupt one moved aside) starts its seqs above any earlier outbox's:
        # the cloud deduplicates on (device, stream, seq), so reused numbers would be taken for repeats.
        start = int(time.time() * 1000) * 1000
        connection.execute("INSERT INTO sqlite_sequence(name, seq) VALUES ('records', ?)", (start,))
    return connection


class Outbox:
    """Append (any thread), read batches and acknowledge them (the uploader); a bounded, prioritised queue."""

    def __init__(
        self, path: Path, budget_bytes: int, commit_interval_s: float = 0.05, busy_interval_s: float = 0.003
    ) -> None:
        self.path = path
        self.budget_bytes = budget_bytes
        self.commit_interval_s = commit_interval_s
        self.busy_interval_s = busy_interval_s
        self.moved_aside: Path | None = None
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = _connect(path)
        except sqlite3.DatabaseError as exc:
            self.moved_aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
            log.error("outbox %s is corrupt (%s); moved to %s and starting empty", path, exc, self.moved_aside)
            for suffix in ("", "-wal", "-shm"):
                if Path(f"{path}{suffix}").exists():
                    os.replace(f"{path}{suffix}", f"{self.moved_aside}{suffix}")
            self._db = _connect(path)
        self._lock = threading.Lock()
        self._cond = threading.Condition()
        self._pending: list[_Pending] = []
        self._closed = False
        self._urgent = False  # a record someone waits on is pending
        self._in_flight = False  # the writer is committing a batch or running its follow-ups
        self._busy = False  # the last batch had such records: commit on the short interval, unwoken
        self._closing = threading.Event()
        row = self._db.execute("SELECT COALESCE(SUM(size), 0), COUNT(*) FROM records").fetchone()
        self.bytes, self.count = int(row[0]), int(row[1])
        self.drops = {name: 0 for name in PRIORITIES} | {
            str(k): int(v) for k, v in self._db.execute("SELECT class, count FROM drops")
        }
        self.write_errors = 0
        self._writer = threading.Thread(target=self._write_loop, name="outbox-writer", daemon=True)
        self._writer.start()

    # -- producers ---------------------------------------------------------------------------------
    def append(
        self,
        stream: str,
        priority: str,
        body: bytes,
        ts_ms: int | None = None,
        then: Callable[[int | None], None] | None = None,
    ) -> Future[int | None]:
        """Queue a record; the future gives its seq once durable (None if the budget made it a drop).

        `then(seq)` runs in the writer thread right after the record's commit (also with None when it was dropped
        or the write failed); such records are committed at once when the writer is idle and every busy_interval_s
        under load, not on the interval: for work that may only happen once the record is safe, such as
        publishing the result it holds.
        """
        done: Future[int | None] = Future()
        item = _Pending(stream, PRIORITIES.index(priority), ts_ms or int(time.time() * 1000), body, done, then)
        with self._cond:
            if self._closed:
                raise OutboxError("outbox is closed")
            self._pending.append(item)
            if then is not None:
                self._urgent = True
                if not self._busy:
                    self._cond.notify()
            # no notify for the rest: the interval bounds their wait anyway and spares the inference threads a
            # thread switch per record. Under load the writer is busy and commits every busy_interval_s instead
        return done

    def _write_loop(self) -> None:
        # one transaction (one fsync) per batch, however many records arrived: the group commit. A first record
        # someone waits on wakes the writer at once; while such records keep coming, the writer commits every
        # busy_interval_s without being woken, so a saturated gateway pays no thread switch (and GIL hand-off)
        # per record.
        while True:
            with self._cond:
                if not self._closing.is_set() and (self._busy or not self._urgent):
                    self._cond.wait(self.busy_interval_s if self._busy else self.commit_interval_s)
                batch, self._pending = self._pending, []
                self._busy, self._urgent = self._urgent, False
                self._in_flight = bool(batch)
                closing = self._closing.is_set()
            if batch:
                self._commit(batch)
                self._after_commit(batch)
                with self._cond:
                    self._in_flight = False
            if closing:
                with self._cond:
                    if not self._pending:
                        return

    def _after_commit(self, batch: list[_Pending]) -> None:
        for item in batch:
            if item.then is not None:
                try:
                    item.then(item.done.result())
                except Exception:  # a follow-up's bug must not stop the writer
                    log.exception("outbox follow-up of a %s record failed", item.stream)

    def _commit(self, batch: list[_Pending]) -> None:
        results: list[int | None] = []
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                dropped: dict[str, int] = {}
                for item in batch:
                    results.append(self._insert(item, dropped))
                for name, n in dropped.items():
                    self._db.execute(
                        "INSERT INTO drops(class, count) VALUES (?, ?) "
                        "ON CONFLICT(class) DO UPDATE SET count = count + excluded.count",
                        (name, n),
                    )
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                self._reload_totals()
                self.write_errors += 1
                for item in batch:
                    self.drops[PRIORITIES[item.priority]] += 1
                log.error("outbox write failed (%s); %d records dropped and counted", exc, len(batch))
                for item in batch:
                    item.done.set_result(None)
                return
            for name, n in dropped.items():
                self.drops[name] += n
        for item, seq in zip(batch, results):
            item.done.set_result(seq)

    def _insert(self, item: _Pending, dropped: dict[str, int]) -> int | None:
        size = len(item.body) + len(item.stream) + 32
        while self.bytes + size > self.budget_bytes:
            victim = self._db.execute(
                "SELECT seq, priority, size FROM records ORDER BY priority DESC, seq LIMIT 1"
            ).fetchone()
            if victim is None or victim[1] < item.priority or size > self.budget_bytes:
                name = PRIORITIES[item.priority]
                dropped[name] = dropped.get(name, 0) + 1
                return None
            self._db.execute("DELETE FROM records WHERE seq = ?", (victim[0],))
            self.bytes -= victim[2]
            self.count -= 1
            name = PRIORITIES[victim[1]]
            dropped[name] = dropped.get(name, 0) + 1
        cursor = self._db.execute(
            "INSERT INTO records(stream, priority, ts_ms, size, body) VALUES (?, ?, ?, ?, ?)",
            (item.stream, item.priority, item.ts_ms, size, item.body),
        )
        self.bytes += size
        self.count += 1
        return int(cursor.lastrowid or 0)

    def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):  # nothing was begun
            self._db.execute("ROLLBACK")

    def _reload_totals(self) -> None:
        try:
            row = self._db.execute("SELECT COALESCE(SUM(size), 0), COUNT(*) FROM records").fetchone()
            self.bytes, self.count = int(row[0]), int(row[1])
        except sqlite3.Error as exc:
            log.error("outbox cannot re-read its totals: %s", exc)

    # -- the uploader -------------------------------------------------------------------------------
    def batch(self, max_records: int, max_bytes: int) -> list[OutboxRecord]:
        """The next records to upload: most important class first, oldest first within a class."""
        out: list[OutboxRecord] = []
        total = 0
        rows: list[tuple[int, str, int, int, bytes]] = []
        with self._lock:
            # one class at a time: (priority = ?, seq) walks the index in order, where ORDER BY priority,
            # seq over the whole table would sort every waiting record of a class for each batch
            for priority in range(len(PRIORITIES)):
                rows += self._db.execute(
                    "SELECT seq, stream, priority, ts_ms, body FROM records WHERE priority = ? ORDER BY seq LIMIT ?",
                    (priority, max_records - len(rows)),
                ).fetchall()
                if len(rows) >= max_records:
                    break
        for seq, stream, priority, ts_ms, body in rows:
            if out and total + len(body) > max_bytes:
                break
            total += len(body)
            out.append(OutboxRecord(int(seq), str(stream), PRIORITIES[int(priority)], int(ts_ms), bytes(body)))
        return out

    def acknowledge(self, seqs: Iterable[int]) -> int:
        """Delete records the cloud has confirmed; returns how many went."""
        ids = list(seqs)
        if not ids:
            return 0
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                freed, removed = 0, 0
                for start in range(0, len(ids), 500):
                    chunk = ids[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    row = self._db.execute(
                        f"SELECT COALESCE(SUM(size), 0), COUNT(*) FROM records WHERE seq IN ({marks})", chunk
                    ).fetchone()
                    self._db.execute(f"DELETE FROM records WHERE seq IN ({marks})", chunk)
                    freed += int(row[0])
                    removed += int(row[1])
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                log.error("outbox acknowledge failed (will upload again): %s", exc)
                return 0
            self.bytes -= freed
            self.count -= removed
        return removed

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until everything appended so far is committed and its follow-up (`then`) has run."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._cond:
                if not self._pending and not self._in_flight:
                    break
                self._urgent = True  # no reason to wait for the interval
                self._cond.notify()
            time.sleep(0.002)

    def close(self) -> None:
        """Commit what is queued and close the database."""
        with self._cond:
            self._closed = True
            self._closing.set()
            self._cond.notify()
        self._writer.join(10)
        with self._lock:
            self._db.close()

"""Given the outbox, records survive crashes and outages, and a full budget drops the least valuable first."""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from edge_agent.outbox.store import Outbox


def _fill(outbox: Outbox, priority: str, n: int, size: int = 100) -> list[int | None]:
    futures = [outbox.append(f"s/{priority}", priority, bytes([65]) * size) for _ in range(n)]
    return [f.result(5) for f in futures]


def test_records_come_out_most_important_first_and_go_only_when_acknowledged(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db", budget_bytes=10 * 1024 * 1024)
    _fill(outbox, "sample", 3)
    _fill(outbox, "ok_result", 3)
    _fill(outbox, "event", 2)
    batch = outbox.batch(5, 1 << 20)
    assert [r.priority for r in batch] == ["event", "event", "ok_result", "ok_result", "ok_result"]
    assert outbox.acknowledge([batch[0].seq, batch[1].seq]) == 2
    assert outbox.count == 6
    outbox.close()
    reopened = Outbox(tmp_path / "o.db", budget_bytes=10 * 1024 * 1024)
    assert reopened.count == 6 and [r.priority for r in reopened.batch(1, 1 << 20)] == ["ok_result"]
    reopened.close()


def test_a_full_budget_drops_lowest_priority_oldest_first_with_exact_counts(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db", budget_bytes=1024 * 1024)
    record = 1000
    _fill(outbox, "sample", 300, record)
    _fill(outbox, "ok_result", 300, record)
    _fill(outbox, "event", 900, record)  # needs room: samples go first, then the oldest OK results
    assert outbox.bytes <= outbox.budget_bytes
    per_record = record + len("s/sample") + 32
    kept: dict[str, int] = {}
    for r in outbox.batch(10_000, 1 << 30):
        kept[r.priority] = kept.get(r.priority, 0) + 1
    assert kept["event"] == 900 and outbox.drops["event"] == 0
    assert outbox.drops["sample"] == 300 and "sample" not in kept
    assert 0 < outbox.drops["ok_result"] == 300 - kept.get("ok_result", 0)
    assert sum(outbox.drops.values()) == 1500 - outbox.count
    assert outbox.bytes <= outbox.budget_bytes and outbox.budget_bytes - outbox.bytes < 2 * per_record
    oldest_ok = [r.seq for r in outbox.batch(10_000, 1 << 30) if r.priority == "ok_result"]
    assert oldest_ok == sorted(oldest_ok) and oldest_ok[0] > 300 + outbox.drops["ok_result"]  # oldest went first
    outbox.close()


def test_a_record_less_valuable_than_everything_stored_is_the_one_dropped(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db", budget_bytes=1024 * 1024)
    _fill(outbox, "event", 1100, 1000)  # more than fits: the newest events have nowhere to go
    assert outbox.drops["event"] == 1100 - outbox.count > 0
    assert _fill(outbox, "sample", 5, 1000) == [None] * 5
    assert outbox.drops["sample"] == 5
    outbox.close()


def test_drop_counts_survive_a_restart(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db", budget_bytes=1024 * 1024)
    _fill(outbox, "event", 1100, 1000)
    drops = dict(outbox.drops)
    outbox.close()
    assert Outbox(tmp_path / "o.db", budget_bytes=1024 * 1024).drops == drops


def test_a_full_disk_drops_and_counts_then_recovers_without_a_restart(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db", budget_bytes=512 * 1024 * 1024)
    _fill(outbox, "health", 10)
    outbox._db.execute(f"PRAGMA max_page_count={outbox._db.execute('PRAGMA page_count').fetchone()[0]}")
    lost = _fill(outbox, "health", 2000, 2000)  # SQLITE_FULL: the database or disk is full
    assert None in lost and outbox.write_errors > 0
    assert outbox.drops["health"] == lost.count(None)
    outbox._db.execute("PRAGMA max_page_count=1073741823")  # space is back
    assert all(seq is not None for seq in _fill(outbox, "health", 50))
    outbox.close()


def test_a_corrupt_database_is_moved_aside_and_a_new_one_starts(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    path.write_bytes(b"this is not sqlite" * 100)
    outbox = Outbox(path, budget_bytes=1024 * 1024)
    assert outbox.moved_aside is not None and outbox.moved_aside.exists()
    assert _fill(outbox, "event", 1)[0] is not None
    outbox.close()


def test_every_acknowledged_record_survives_100_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    rng = random.Random(100)
    acknowledged: dict[int, int] = {}
    next_value = 0
    for _ in range(100):
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.edge_agent.outbox.outbox_child", str(path), str(next_value)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        deadline = time.monotonic() + rng.uniform(0.05, 0.4)
        first = child.stdout.readline()  # the child is up and writing
        assert first, "outbox child died at start"
        seq, value = map(int, first.split())
        acknowledged[seq] = value
        while time.monotonic() < deadline:
            line = child.stdout.readline()
            seq, value = map(int, line.split())
            acknowledged[seq] = value
        child.kill()
        child.wait()
        next_value = max(acknowledged.values()) + 1_000_000
    with sqlite3.connect(path) as db:
        stored = {int(seq): body for seq, body in db.execute("SELECT seq, body FROM records")}
    missing = [s for s in acknowledged if s not in stored]
    assert not missing, f"{len(missing)} acknowledged records lost, e.g. {missing[:5]}"
    assert all(stored[s] == f'{{"n":{v}}}'.encode() for s, v in acknowledged.items())


def test_reading_a_batch_walks_the_index_instead_of_sorting_the_backlog(tmp_path: Path) -> None:
    # given an outbox (a gateway back from a long outage may hold millions of records)
    outbox = Outbox(tmp_path / "o.db", budget_bytes=1024 * 1024)
    outbox.append("health/a", "health", b"x").result(5)
    statements: list[str] = []
    # when the uploader reads a batch
    outbox._db.set_trace_callback(statements.append)
    outbox.batch(10, 1024 * 1024)
    outbox._db.set_trace_callback(None)
    # then every query it ran reads the index in upload order: none sorts the waiting records first,
    # which cost 300 ms per batch with 150,000 records waiting
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert selects
    for statement in selects:
        plan = " / ".join(row[3] for row in outbox._db.execute("EXPLAIN QUERY PLAN " + statement))
        assert "TEMP B-TREE" not in plan, f"{statement}: {plan}"
    outbox.close()


def test_a_follow_up_runs_only_once_its_record_is_committed_and_without_waiting_for_the_interval(
    tmp_path: Path,
) -> None:
    # Given an outbox with a long group-commit interval, and follow-ups that look at the file from outside
    outbox = Outbox(tmp_path / "outbox.db", budget_bytes=1 << 20, commit_interval_s=5.0)
    seen: list[tuple[int | None, int, float]] = []

    def look(seq: int | None) -> None:
        with sqlite3.connect(tmp_path / "outbox.db") as other:
            stored = other.execute("SELECT COUNT(*) FROM records WHERE seq = ?", (seq,)).fetchone()[0]
        seen.append((seq, stored, time.monotonic()))

    # When records that publish a result are appended
    start = time.monotonic()
    futures = [outbox.append("inspection/cam-1", "ok_result", b"r%d" % i, then=look) for i in range(3)]
    deadline = time.monotonic() + 2
    while len(seen) < 3 and time.monotonic() < deadline:
        time.sleep(0.005)
    # Then each follow-up ran after its record was visible to another connection, in order, long before 5 s
    assert [s[0] for s in seen] == [f.result(1) for f in futures]
    assert all(stored == 1 for _, stored, _ in seen)
    assert max(at for _, _, at in seen) - start < 1.0
    outbox.close()


def test_a_failing_follow_up_does_not_stop_the_writer(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db", budget_bytes=1 << 20)

    def broken(seq: int | None) -> None:
        raise RuntimeError("publisher bug")

    outbox.append("events", "event", b"a", then=broken).result(2)
    assert outbox.append("events", "event", b"b").result(2) is not None
    outbox.close()

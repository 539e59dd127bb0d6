"""Batch intake: sample bytes into the artifact store, then one transaction for ledger, samples, labels and drops."""

from __future__ import annotations

import json
import logging

from sqlalchemy import Engine, Table, TextClause, text
from sqlmodel import Session, col, select

from cloud_sync import sample_intake, samples
from cloud_sync.db import dialect_insert, now_ms, session
from cloud_sync.records import Interpreted
from cloud_sync.storage import Storage
from cloud_sync.tables import DeviceDrop, Sample, Telemetry
from cloud_sync.wire_data import BatchOut, RejectedOut

log = logging.getLogger(__name__)
RECORD_KEY = ["device_id", "stream", "seq"]
TELEMETRY: Table = Telemetry.__table__  # type: ignore[attr-defined]
DROPS: Table = DeviceDrop.__table__  # type: ignore[attr-defined]


def _bulk_ledger() -> TextClause:
    """PostgreSQL: the whole batch as one JSON parameter, one short statement whatever the batch size."""
    # A multi-row VALUES of 200 x 17 parameters is a new, long query text: psycopg parses such a query on every
    # execution (half of a batch's CPU), and arrays of text cost as much in its escaping. One JSON document is
    # encoded in C here and read by PostgreSQL straight into the table's row type.
    names = ", ".join(column.name for column in TELEMETRY.columns if column.name != "id")
    return text(
        f"INSERT INTO {TELEMETRY.name} ({names}) SELECT {names} "
        f"FROM json_populate_recordset(NULL::{TELEMETRY.name}, CAST(:rows AS json)) "
        f"ON CONFLICT ({', '.join(RECORD_KEY)}) DO NOTHING RETURNING stream, seq"
    )


BULK_LEDGER = _bulk_ledger()


def store_payloads(engine: Engine, storage: Storage, items: list[Interpreted], grace_ms: int | None = None) -> None:
    """Put each new sample's bytes under its content address (before the rows that point at them are written).

    Bytes a stored sample has already are not uploaded again; with retention on (grace_ms), only a sample young
    enough that no prune pass can delete its bytes meanwhile counts.
    """
    wanted = {item.sample.input_sha256: item.payload for item in items if item.sample and item.payload is not None}
    if not wanted:
        return
    query = select(Sample.input_sha256).where(col(Sample.input_sha256).in_(list(wanted)))
    if grace_ms is not None:
        query = query.where(col(Sample.received_ms) >= now_ms() - grace_ms)
    with session(engine) as db:
        known = set(db.exec(query).all())
    for digest, payload in wanted.items():
        if digest not in known:  # else a stored sample has these very bytes already
            storage.put_bytes(samples.storage_key(digest), payload)


def _ledger(db: Session, device_id: str, items: list[Interpreted], received_ms: int) -> set[tuple[str, int]]:
    """Insert the ledger rows, skipping records already there; returns the (stream, seq) of the new ones."""
    if not items:
        return set()
    rows = [{**item.row, "device_id": device_id, "received_ms": received_ms} for item in items]
    if db.get_bind().dialect.name == "postgresql":
        inserted = db.connection().execute(BULK_LEDGER, {"rows": json.dumps(rows)})
    else:
        statement = dialect_insert(db, TELEMETRY).on_conflict_do_nothing(index_elements=RECORD_KEY)
        inserted = db.connection().execute(statement.returning(TELEMETRY.c.stream, TELEMETRY.c.seq), rows)
    return {(str(stream), int(seq)) for stream, seq in inserted}


def _warn_reused(db: Session, device_id: str, repeats: list[Interpreted]) -> None:
    """Log records whose (stream, seq) came back with other content: the gateway's outbox started over."""
    wanted = {(item.record.stream, item.record.seq): item.row["body_sha256"] for item in repeats}
    seqs = sorted({seq for _, seq in wanted})
    for start in range(0, len(seqs), 500):
        query = select(Telemetry.stream, Telemetry.seq, Telemetry.body_sha256).where(
            Telemetry.device_id == device_id, col(Telemetry.seq).in_(seqs[start : start + 500])
        )
        for stream, seq, digest in db.exec(query).all():
            if (stream, seq) in wanted and wanted[(stream, seq)] != digest:
                log.warning(
                    "device %s sent %s seq %d again with other content; the first copy is kept "
                    "(did its outbox start over?)",
                    device_id,
                    stream,
                    seq,
                )


def _drops(db: Session, device_id: str, drops: dict[str, int], received_ms: int) -> None:
    if not drops:
        return
    rows = [
        {"device_id": device_id, "drop_class": name, "count": count, "updated_ms": received_ms}
        for name, count in drops.items()
    ]
    statement = dialect_insert(db, DROPS)
    statement = statement.on_conflict_do_update(
        index_elements=["device_id", "drop_class"],
        set_={"count": statement.excluded["count"], "updated_ms": statement.excluded.updated_ms},
    )
    db.connection().execute(statement, rows)


def store_batch(db: Session, device_id: str, items: list[Interpreted], drops: dict[str, int]) -> BatchOut:
    """Store a checked batch once: new records, their samples and labels, and the drop counters."""
    received_ms = now_ms()
    # one order for every writer, so concurrent uploads of overlapping batches wait rather than deadlock
    ordered = sorted(items, key=lambda item: (item.record.stream, item.record.seq))
    inserted = _ledger(db, device_id, ordered, received_ms)
    fresh = [item for item in ordered if (item.record.stream, item.record.seq) in inserted]
    repeats = [item for item in ordered if (item.record.stream, item.record.seq) not in inserted]
    if repeats:
        _warn_reused(db, device_id, repeats)
    sample_intake.add_samples(db, device_id, [item for item in fresh if item.sample is not None], received_ms)
    sample_intake.add_labels(db, device_id, [item for item in fresh if item.label is not None], received_ms)
    _drops(db, device_id, drops, received_ms)
    rejected = [
        RejectedOut(stream=item.record.stream, seq=item.record.seq, reason=item.refusal)
        for item in fresh
        if item.refusal is not None
    ]
    for refusal in rejected:
        log.warning("device %s: %s seq %d refused: %s", device_id, refusal.stream, refusal.seq, refusal.reason)
    log.debug("device %s: batch of %d records, %d new", device_id, len(items), len(fresh))
    return BatchOut(
        acked=[item.record.seq for item in items],
        stored=len(fresh),
        duplicates=len(repeats),
        rejected=rejected,
    )

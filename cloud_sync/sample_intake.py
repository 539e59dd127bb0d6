"""Hard examples arriving in a batch: sample rows and gateway label records, joined in either arrival order."""

from __future__ import annotations

from sqlalchemy import Table, insert
from sqlmodel import Session

from cloud_sync.records import Interpreted
from cloud_sync.samples import (
    VIA_RECORD,
    VIA_SAMPLE,
    Placed,
    choose,
    join_candidates,
    refresh_labels,
    rejoin_near,
    storage_key,
)
from cloud_sync.tables import Sample, SampleLabel

SAMPLES: Table = Sample.__table__  # type: ignore[attr-defined]
LABELS: Table = SampleLabel.__table__  # type: ignore[attr-defined]


def add_samples(db: Session, device_id: str, items: list[Interpreted], received_ms: int) -> None:
    """Rows for newly arrived samples (their bytes are stored already); pending labels join them."""
    if not items:
        return
    rows = []
    for item in items:
        doc = item.sample
        assert doc is not None and item.payload is not None
        rows.append(
            {
                "device_id": device_id,
                "stream": item.record.stream,
                "seq": item.record.seq,
                "source": doc.source,
                "part_id": doc.part_id,
                "ts_ms": doc.ts_ms,
                "reason": doc.reason,
                "model_name": doc.model.name,
                "model_version": doc.model.version,
                "predicted": doc.predicted,
                "content_type": doc.content_type,
                "input_sha256": doc.input_sha256,
                "size": len(item.payload),
                "storage_key": storage_key(doc.input_sha256),
                # a sample's own label is its current label until a label record joins it (refresh_labels decides)
                "label": doc.label,
                "label_origin": "capture" if doc.label is not None else None,
                "labelled_by": device_id if doc.label is not None else None,
                "provenance_json": item.row["document_json"],
                "received_ms": received_ms,
            }
        )
    # Core rows, not ORM objects: four hard examples through the ORM cost more than the batch's 200 ledger rows
    statement = insert(SAMPLES).returning(SAMPLES.c.id, sort_by_parameter_order=True)
    ids = db.connection().execute(statement, rows).scalars().all()
    placed = [Placed(int(i), row["source"], row["part_id"], row["ts_ms"]) for i, row in zip(ids, rows, strict=True)]
    own = [
        {
            "sample_id": sample.id,
            "device_id": device_id,
            "source": sample.source,
            "part_id": sample.part_id,
            "ts_ms": sample.ts_ms,
            "label": row["label"],
            "via": VIA_SAMPLE,
            "origin": "capture",
            "labelled_by": device_id,
            "record_seq": row["seq"],
            "created_ms": received_ms,
        }
        for sample, row in zip(placed, rows, strict=True)
        if row["label"] is not None
    ]
    if own:
        db.connection().execute(insert(LABELS), own)
    refresh_labels(db, rejoin_near(db, device_id, placed))


def add_labels(db: Session, device_id: str, items: list[Interpreted], received_ms: int) -> None:
    """Rows for newly arrived gateway label records, each joined to its sample when that is here already."""
    rows = []
    for item in items:
        doc = item.label
        assert doc is not None
        rows.append(
            SampleLabel(
                device_id=device_id,
                source=doc.source,
                part_id=doc.part_id,
                ts_ms=doc.ts_ms,
                label=doc.label,
                via=VIA_RECORD,
                origin=doc.origin,
                labelled_by=device_id,
                record_seq=item.record.seq,
                created_ms=received_ms,
            )
        )
    if not rows:
        return
    candidates = join_candidates(db, device_id, rows)
    for row in rows:
        row.sample_id = choose(row, candidates)
    # one multi-row INSERT; the ORM's row-by-row flush costs more than the join itself
    db.connection().execute(insert(LABELS), [row.model_dump(exclude={"id"}) for row in rows])
    refresh_labels(db, {row.sample_id for row in rows if row.sample_id is not None})

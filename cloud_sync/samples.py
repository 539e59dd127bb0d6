"""Hard examples: sample rows, label joins that hold in either arrival order, cloud labelling, listing."""

from __future__ import annotations

import json
import logging
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, and_, or_
from sqlmodel import Session, col, select

from cloud_sync.db import now_ms
from cloud_sync.errors import NotFound
from cloud_sync.tables import Sample, SampleLabel
from cloud_sync.wire_data import LabelIn, LabelOut, SampleDetail, SampleOut

log = logging.getLogger(__name__)
JOIN_WINDOW_MS = 2000
# A gateway label record joins a sample; the label a sample came with and cloud labels are fixed to theirs.
VIA_RECORD, VIA_SAMPLE, VIA_CLOUD = "record", "sample", "cloud"


class Placed(NamedTuple):
    """A sample row just inserted: what the label join needs of it."""

    id: int
    source: str
    part_id: str | None
    ts_ms: int


def storage_key(sha256: str) -> str:
    """Where a sample's bytes live in the artifact store (content-addressed)."""
    return f"samples/{sha256[:2]}/{sha256}"


def _near(column: Any, ts_ms: int) -> ColumnElement[bool]:
    return and_(column >= ts_ms - JOIN_WINDOW_MS, column <= ts_ms + JOIN_WINDOW_MS)


def join_candidates(db: Session, device_id: str, labels: list[SampleLabel]) -> list[Sample]:
    """Samples of the device that some of the labels could belong to (one query for many labels)."""
    parts = {label.part_id for label in labels if label.part_id is not None}
    times = [label.ts_ms for label in labels if label.ts_ms is not None]
    conditions: list[ColumnElement[bool]] = []
    if parts:
        conditions.append(col(Sample.part_id).in_(parts))
    if times:
        column = col(Sample.ts_ms)
        conditions.append(and_(column >= min(times) - JOIN_WINDOW_MS, column <= max(times) + JOIN_WINDOW_MS))
    if not conditions:
        return []
    sources = {label.source for label in labels}
    query = select(Sample).where(Sample.device_id == device_id, col(Sample.source).in_(sources), or_(*conditions))
    return list(db.exec(query).all())


def choose(label: SampleLabel, candidates: list[Sample]) -> int | None:
    """The sample a gateway label belongs to: same device and source, same part id, else nearest ts within 2 s."""

    def rank(sample: Sample) -> tuple[int, int, int] | None:
        if sample.device_id != label.device_id or sample.source != label.source:
            return None
        if label.part_id is not None and sample.part_id == label.part_id:
            return 0, abs(sample.ts_ms - label.ts_ms) if label.ts_ms is not None else -sample.ts_ms, sample.seq
        if label.ts_ms is None or (label.part_id is not None and sample.part_id is not None):
            return None
        distance = abs(sample.ts_ms - label.ts_ms)
        return (1, distance, sample.seq) if distance <= JOIN_WINDOW_MS else None

    ranked = [(key, sample.id) for sample in candidates if (key := rank(sample)) is not None]
    return min(ranked)[1] if ranked else None


def refresh_labels(db: Session, sample_ids: set[int]) -> None:
    """Set each sample's current label: the newest cloud label, else the gateway's latest (by outbox order)."""
    if not sample_ids:
        return
    db.flush()
    # lock the samples (in id order) before reading their labels: a cloud labeller on one replica and a gateway
    # upload on another would otherwise each compute the current label from half of the history
    locked = select(Sample).where(col(Sample.id).in_(sample_ids)).order_by(col(Sample.id)).with_for_update()
    rows = db.exec(locked.execution_options(populate_existing=True)).all()
    found: dict[int, list[SampleLabel]] = {sample_id: [] for sample_id in sample_ids}
    for label in db.exec(select(SampleLabel).where(col(SampleLabel.sample_id).in_(sample_ids))).all():
        found[label.sample_id or 0].append(label)
    for sample in rows:
        labels = found.get(sample.id or 0, [])
        cloud = [label for label in labels if label.via == VIA_CLOUD]
        gateway = [label for label in labels if label.via != VIA_CLOUD]
        chosen: SampleLabel | None = None
        if cloud:
            chosen = max(cloud, key=lambda label: label.id or 0)
        elif gateway:
            chosen = max(gateway, key=lambda label: (label.record_seq or 0, label.id or 0))
        sample.label = chosen.label if chosen else None
        sample.label_origin = chosen.origin if chosen else None
        sample.labelled_by = chosen.labelled_by if chosen else None
        db.add(sample)
    db.flush()


def rejoin_near(db: Session, device_id: str, samples: list[Placed]) -> set[int]:
    """Gateway labels that may belong to newly arrived samples are joined again (one query for the whole
    batch); returns the samples touched."""
    if not samples:
        return set()
    ts = col(SampleLabel.ts_ms)
    conditions: list[ColumnElement[bool]] = []
    without_part = [sample.ts_ms for sample in samples if sample.part_id is None]
    if without_part:
        conditions.append(and_(ts >= min(without_part) - JOIN_WINDOW_MS, ts <= max(without_part) + JOIN_WINDOW_MS))
    with_part = [sample for sample in samples if sample.part_id is not None]
    if with_part:
        times = [sample.ts_ms for sample in with_part]
        conditions.append(col(SampleLabel.part_id).in_({sample.part_id for sample in with_part}))
        conditions.append(
            and_(
                ts >= min(times) - JOIN_WINDOW_MS,
                ts <= max(times) + JOIN_WINDOW_MS,
                col(SampleLabel.part_id).is_(None),
            )
        )
    query = select(SampleLabel).where(
        SampleLabel.device_id == device_id,
        col(SampleLabel.source).in_({sample.source for sample in samples}),
        SampleLabel.via == VIA_RECORD,
        or_(*conditions),
    )
    labels = list(db.exec(query).all())
    # a superset of the labels near each sample is harmless: choose() gives a label the same sample again
    candidates = join_candidates(db, device_id, labels) if labels else []
    touched: set[int] = set()
    for label in labels:
        best = choose(label, candidates)
        if best != label.sample_id:
            touched.update(found for found in (label.sample_id, best) if found is not None)
            label.sample_id = best
            db.add(label)
    return touched


def _label_row(
    sample: Sample, label: str, via: str, origin: str, by: str, record_seq: int | None, created_ms: int
) -> SampleLabel:
    return SampleLabel(
        sample_id=sample.id,
        device_id=sample.device_id,
        source=sample.source,
        part_id=sample.part_id,
        ts_ms=sample.ts_ms,
        label=label,
        via=via,
        origin=origin,
        labelled_by=by,
        record_seq=record_seq,
        created_ms=created_ms,
    )


def get_sample(db: Session, sample_id: int) -> Sample:
    """One sample; NotFound when there is none."""
    sample = db.get(Sample, sample_id)
    if sample is None:
        raise NotFound(f"sample {sample_id} does not exist")
    return sample


def label_sample(db: Session, sample_id: int, body: LabelIn) -> Sample:
    """A cloud labeller confirms or corrects a sample's label; the history keeps every label."""
    sample = get_sample(db, sample_id)
    db.add(_label_row(sample, body.label, VIA_CLOUD, "cloud", body.by, None, now_ms()))
    refresh_labels(db, {sample_id})
    log.info("sample %d labelled %s by %s", sample_id, body.label, body.by)
    return sample


def list_samples(db: Session, filters: dict[str, Any], after_id: int, limit: int) -> list[Sample]:
    """Samples matching the filters (model, labelled, reason, device, source, since_ms), by id, after after_id."""
    query = select(Sample).where(col(Sample.id) > after_id)
    if filters.get("model") is not None:
        query = query.where(Sample.model_name == filters["model"])
    if filters.get("labelled") is not None:
        query = query.where(col(Sample.label).is_not(None) if filters["labelled"] else col(Sample.label).is_(None))
    for name, column in (("reason", Sample.reason), ("device", Sample.device_id), ("source", Sample.source)):
        if filters.get(name) is not None:
            query = query.where(column == filters[name])
    if filters.get("since_ms") is not None:
        query = query.where(col(Sample.ts_ms) >= filters["since_ms"])
    return list(db.exec(query.order_by(col(Sample.id)).limit(limit)).all())


def sample_out(sample: Sample) -> SampleOut:
    """Wire form of a sample."""
    assert sample.id is not None
    return SampleOut(
        id=sample.id,
        device=sample.device_id,
        stream=sample.stream,
        seq=sample.seq,
        source=sample.source,
        part_id=sample.part_id,
        ts_ms=sample.ts_ms,
        received_ms=sample.received_ms,
        reason=sample.reason,
        model=sample.model_name,
        version=sample.model_version,
        predicted=sample.predicted,
        content_type=sample.content_type,
        input_sha256=sample.input_sha256,
        size=sample.size,
        label=sample.label,
        label_origin=sample.label_origin,
        labelled_by=sample.labelled_by,
        provenance=json.loads(sample.provenance_json),
        content_url=f"/api/v1/samples/{sample.id}/content",
    )


def sample_detail(db: Session, sample: Sample) -> SampleDetail:
    """A sample with its label history, oldest first."""
    labels = db.exec(select(SampleLabel).where(SampleLabel.sample_id == sample.id).order_by(col(SampleLabel.id))).all()
    history = [
        LabelOut(
            label=label.label,
            via=label.via,
            origin=label.origin,
            by=label.labelled_by,
            ts_ms=label.ts_ms,
            created_ms=label.created_ms,
        )
        for label in labels
    ]
    return SampleDetail(**sample_out(sample).model_dump(), labels=history)

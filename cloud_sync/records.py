"""Outbox records: the batch envelope checked and decoded, each record's body read into key fields (pure code)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from cloud_sync.errors import BadRequest
from cloud_sync.wire_data import BatchIn, LabelDoc, SampleDoc

# Stream prefixes the gateway writes and the kind each is stored as; other prefixes are kept under their own name.
KINDS = {"inspection": "inspection", "health": "health", "events": "event", "labels": "label", "samples": "sample"}
REJECTED = "rejected"
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "application/json": "json"}


def extension(content_type: str) -> str:
    """File name extension of a sample's content type (bin for types the exporter does not know)."""
    return EXTENSIONS.get(content_type.split(";")[0].strip().lower(), "bin")


@dataclass(frozen=True)
class Decoded:
    """One record of a checked batch, its body decoded from base64."""

    stream: str
    seq: int
    ts_ms: int
    body: bytes


@dataclass
class Interpreted:
    """A record read into its ledger row; samples and labels also keep their parsed document."""

    record: Decoded
    row: dict[str, Any]
    sample: SampleDoc | None = None
    payload: bytes | None = None
    label: LabelDoc | None = None
    refusal: str | None = None


def decode_batch(batch: BatchIn) -> list[Decoded]:
    """The batch's records with bodies decoded; BadRequest naming every envelope problem (nothing is stored then)."""
    problems: list[str] = []
    first_index: dict[int, int] = {}
    decoded: list[Decoded] = []
    for index, record in enumerate(batch.records):
        if record.seq in first_index:
            problems.append(f"records.{index}.seq: {record.seq} already used by records.{first_index[record.seq]}")
        first_index.setdefault(record.seq, index)
        try:
            body = base64.b64decode(record.body_b64, validate=True)
        except (binascii.Error, ValueError):
            problems.append(f"records.{index}.body_b64: not valid base64")
            continue
        decoded.append(Decoded(record.stream, record.seq, record.ts_ms, body))
    if problems:
        more = f"; and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise BadRequest("; ".join(problems[:10]) + more)
    return decoded


def _text(document: dict[str, Any], key: str, limit: int) -> str | None:
    value = document.get(key)
    if isinstance(value, str) and 0 < len(value) <= limit and "\x00" not in value:
        return value
    return None


def _model(document: dict[str, Any]) -> tuple[str | None, str | None]:
    model = document.get("model")
    if isinstance(model, dict):
        return _text(model, "name", 64), _text(model, "version", 64)
    if isinstance(model, str):
        return _text(document, "model", 64), _text(document, "version", 64)
    return None, None


def _score(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def ledger_row(record: Decoded, kind: str, source: str | None, document: dict[str, Any], text: str) -> dict[str, Any]:
    """The ledger columns of a record: key fields when present and well-formed, the document whole."""
    name, version = _model(document)
    return {
        "stream": record.stream,
        "seq": record.seq,
        "ts_ms": record.ts_ms,
        "kind": kind,
        "source": source,
        "part_id": _text(document, "part_id", 128),
        "verdict": _text(document, "verdict", 32),
        "label": _text(document, "label", 64),
        "state": _text(document, "state", 64),
        "event_type": _text(document, "type", 64) if kind == "event" else None,
        "anomaly_score": _score(document.get("anomaly_score")),
        "model_name": name,
        "model_version": version,
        "body_sha256": hashlib.sha256(record.body).hexdigest(),
        "document_json": text,
    }


def _refused(record: Decoded, kind: str, source: str | None, reason: str) -> Interpreted:
    document = {"reason": reason, "kind": kind, "body_bytes": len(record.body)}
    row = ledger_row(record, REJECTED, source, {}, json.dumps(document))
    return Interpreted(record, row, refusal=reason)


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '(body)'}: {err['msg']}" for err in exc.errors())


def _sample(record: Decoded, source: str | None, document: dict[str, Any]) -> Interpreted:
    try:
        sample = SampleDoc.model_validate(document)
    except ValidationError as exc:
        return _refused(record, "sample", source, f"sample document: {_problems(exc)}")
    if sample.source != source:
        return _refused(record, "sample", source, f"sample source {sample.source!r} differs from the stream's")
    try:
        payload = base64.b64decode(sample.payload_b64, validate=True)
    except (binascii.Error, ValueError):
        return _refused(record, "sample", source, "payload_b64 is not valid base64")
    digest = hashlib.sha256(payload).hexdigest()
    if digest != sample.input_sha256:
        reason = f"payload sha256 {digest} does not match input_sha256 {sample.input_sha256}"
        return _refused(record, "sample", source, reason)
    if sample.input_bytes is not None and sample.input_bytes != len(payload):
        reason = f"payload has {len(payload)} bytes, input_bytes says {sample.input_bytes}"
        return _refused(record, "sample", source, reason)
    provenance = {key: value for key, value in document.items() if key != "payload_b64"}
    row = ledger_row(record, "sample", source, provenance, json.dumps(provenance, separators=(",", ":")))
    return Interpreted(record, row, sample=sample, payload=payload)


def _label(record: Decoded, source: str | None, document: dict[str, Any], text: str) -> Interpreted:
    try:
        label = LabelDoc.model_validate(document)
    except ValidationError as exc:
        return _refused(record, "label", source, f"label document: {_problems(exc)}")
    if label.source != source:
        return _refused(record, "label", source, f"label source {label.source!r} differs from the stream's")
    return Interpreted(record, ledger_row(record, "label", source, document, text), label=label)


def interpret(record: Decoded) -> Interpreted:
    """Read one record: its ledger row, or a refusal with the reason when its body cannot be used."""
    prefix, _, rest = record.stream.partition("/")
    kind, source = KINDS.get(prefix, prefix), rest or None
    try:
        text = record.body.decode("utf-8")
        document = json.loads(text)
    except ValueError:
        return _refused(record, kind, source, "body is not UTF-8 JSON")
    if not isinstance(document, dict):
        return _refused(record, kind, source, "body is not a JSON object")
    if kind in ("sample", "label") and "\\u0000" in text.lower():
        # their fields become columns, and PostgreSQL text cannot hold NUL
        return _refused(record, kind, source, "body contains a NUL character")
    if kind == "sample":
        return _sample(record, source, document)
    if kind == "label":
        return _label(record, source, document, text)
    return Interpreted(record, ledger_row(record, kind, source, document, text))

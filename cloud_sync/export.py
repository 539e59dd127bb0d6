"""`cloud-sync export MODEL --out DIR`: a model's samples as a dataset (manifest.jsonl + files/) for training code."""

from __future__ import annotations

import argparse
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from cloud_sync.client import ApiClient
from cloud_sync.errors import ClientError
from cloud_sync.records import extension

PAGE = 500
MANIFEST = "manifest.jsonl"
FILES = "files"
# Sample fields that describe where it came from; the label travels at the top of each manifest line.
CLOUD_FIELDS = ("device", "stream", "seq", "source", "part_id", "ts_ms", "received_ms", "reason", "predicted")


def file_name(sample: dict[str, Any]) -> str:
    """The dataset file of a sample: content-addressed, with the extension of its content type."""
    return f"{sample['input_sha256']}.{extension(str(sample['content_type']))}"


def manifest_line(sample: dict[str, Any]) -> dict[str, Any]:
    """One manifest.jsonl entry: file, label, and the sample's provenance."""
    provenance = {key: value for key, value in sample["provenance"].items() if key != "label"}
    provenance.update({key: sample[key] for key in CLOUD_FIELDS})
    provenance["model"] = {**provenance.get("model", {}), "name": sample["model"], "version": sample["version"]}
    return {
        "file": file_name(sample),
        "label": sample["label"],
        "label_origin": sample["label_origin"],
        "labelled_by": sample["labelled_by"],
        "sample_id": sample["id"],
        "sha256": sample["input_sha256"],
        "content_type": sample["content_type"],
        "model": sample["model"],
        "version": sample["version"],
        "provenance": provenance,
    }


def _temporary(target: Path) -> Path:
    return target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")


def _download(client: ApiClient, sample: dict[str, Any], target: Path) -> None:
    """Stream the sample's bytes into a temporary file, check the sha256, rename into place."""
    temporary = _temporary(target)
    try:
        with temporary.open("wb") as out:
            digest = client.download(f"/samples/{sample['id']}/content", out)
        expected = sample["input_sha256"]
        if digest != expected:
            raise ClientError(f"sample {sample['id']}: the bytes have sha256 {digest}, expected {expected}")
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def _samples(client: ApiClient, query: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The selected samples page by page (by id): one page in memory at a time, whatever the dataset size."""
    after_id = 0
    while True:
        page = client.call("GET", "/samples?" + urlencode({**query, "after_id": after_id, "limit": PAGE}))
        yield from page
        if len(page) < PAGE:
            return
        after_id = int(page[-1]["id"])


def export(client: ApiClient, args: argparse.Namespace) -> int:
    """Write DIR/manifest.jsonl and DIR/files/ as the samples stream in; files already present are not fetched."""
    out: Path = args.out
    files = out / FILES
    try:
        files.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ClientError(f"--out {out}: cannot create the dataset directory ({exc.strerror})") from exc
    query: dict[str, Any] = {"model": args.model}
    if args.only_labelled:
        query["labelled"] = "true"
    if args.since_ms is not None:
        query["since_ms"] = args.since_ms
    fetched = present = total = labelled = 0
    manifest = out / MANIFEST
    temporary = _temporary(manifest)
    try:
        # the manifest is written line by line into a temporary file and renamed at the end: readers see the
        # previous complete manifest or the new one
        with temporary.open("w", encoding="utf-8") as lines:
            for sample in _samples(client, query):
                target = files / file_name(sample)
                if target.is_file():
                    present += 1
                else:
                    _download(client, sample, target)
                    fetched += 1
                lines.write(json.dumps(manifest_line(sample), sort_keys=True) + "\n")
                total += 1
                labelled += sample["label"] is not None
        os.replace(temporary, manifest)
    except OSError as exc:
        raise ClientError(f"--out {out}: cannot write the dataset ({exc.strerror or exc})") from exc
    finally:
        temporary.unlink(missing_ok=True)
    print(
        f"exported {total} samples of {args.model} ({labelled} labelled) to {out}: "
        f"{fetched} files downloaded, {present} already present"
    )
    return 0

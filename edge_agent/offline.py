"""`edge-agent infer`: run one model package on files, one JSON line per input."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from edge_agent.config import AssetConfig
from edge_agent.errors import EdgeAgentError
from edge_agent.ingest.images import decode_image
from edge_agent.ingest.vibration import parse_vibration
from edge_agent.pipelines.inspection import QualityInspector
from edge_agent.pipelines.maintenance import HealthMonitor

log = logging.getLogger(__name__)
MAX_FILE_BYTES = 64 * 1024 * 1024


def expand_inputs(names: Iterable[str], stdin: TextIO) -> Iterator[str]:
    """File names from the command line; '-' reads further names from stdin, one per line."""
    for name in names:
        if name == "-":
            yield from (line.strip() for line in stdin if line.strip())
        else:
            yield name


def _model_info(pipeline: QualityInspector | HealthMonitor) -> dict[str, str]:
    manifest = pipeline.model.manifest
    return {"name": manifest.name, "version": manifest.version, "sha256": manifest.sha256}


def infer_one(pipeline: QualityInspector | HealthMonitor, data: bytes, asset: AssetConfig | None) -> dict[str, Any]:
    """The result document for one input's bytes (raises EdgeAgentError on bad input)."""
    if isinstance(pipeline, QualityInspector):
        outcome = pipeline.inspect(decode_image(data))
        verdict = outcome.result
        return {
            "verdict": verdict.verdict,
            "label": verdict.label,
            "scores": verdict.scores,
            "margin": verdict.margin,
            "model": _model_info(pipeline),
            "latency_ms": outcome.latency_ms,
        }
    window = parse_vibration(data, asset.bearing if asset else None, asset.rpm if asset else None)
    health = pipeline.assess(window)
    result = health.result
    return {
        "ts_ms": window.ts_ms,
        "state": result.state,
        "closest_state": result.closest_state,
        "scores": result.scores,
        "anomaly_score": result.anomaly_score,
        "anomaly": result.anomaly,
        "health_index": result.health_index,
        "features": health.features,
        "model": _model_info(pipeline),
        "latency_ms": health.latency_ms,
    }


def infer_files(
    pipeline: QualityInspector | HealthMonitor,
    files: Iterable[str],
    asset: AssetConfig | None,
    out: TextIO | None = None,
) -> int:
    """Print one JSON line per file; keep going past bad files and return how many failed."""
    out = out or sys.stdout
    failures = 0
    for name in files:
        try:
            path = Path(name)
            if path.stat().st_size > MAX_FILE_BYTES:
                raise EdgeAgentError(f"file is larger than {MAX_FILE_BYTES} bytes")
            document = {"file": name, **infer_one(pipeline, path.read_bytes(), asset)}
        except (OSError, EdgeAgentError) as exc:
            failures += 1
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            document = {"file": name, "error": reason, "error_type": type(exc).__name__}
            print(f"edge-agent infer: {name}: {reason}", file=sys.stderr)
        out.write(json.dumps(document) + "\n")
        out.flush()
    return failures

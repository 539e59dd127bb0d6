"""A Transport (our own one-method protocol) that plays a misbehaving artifact server, for unit tests."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from edge_agent.ota.http import CloudUnavailable, HttpResponse


@dataclass
class ServerScript:
    """How the next responses misbehave."""

    cut_at: list[int] = field(default_factory=list)  # connection drops once the body reaches these offsets
    wrong_range_start: bool = False
    wrong_total: bool = False
    ignore_range: bool = False
    garbage: bool = False
    extra_bytes: int = 0
    trickle_s: float = 0.0
    refuse: bool = False


class FakeArtifactServer:
    """Serves one artifact with Range support and scripted faults; counts every byte it sends."""

    def __init__(self, artifact: bytes, script: ServerScript | None = None, chunk: int = 4096) -> None:
        self.artifact = artifact
        self.script = script or ServerScript()
        self.chunk = chunk
        self.sent_per_request: list[int] = []
        self.requests: list[Mapping[str, str]] = []

    def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None = None, timeout: float = 30.0
    ) -> HttpResponse:
        self.requests.append(dict(headers))
        if self.script.refuse:
            raise CloudUnavailable("connection refused")
        start = 0
        match = re.match(r"bytes=(\d+)-", headers.get("Range", ""))
        status = 200
        if match and not self.script.ignore_range:
            start = int(match.group(1))
            status = 206
        payload = self.artifact[start:]
        if self.script.garbage:
            payload = bytes(b ^ 0x5A for b in payload)
        payload += b"X" * self.script.extra_bytes
        total = len(self.artifact) + (7 if self.script.wrong_total else 0)
        claimed_start = start + (10 if self.script.wrong_range_start else 0)
        response_headers = {"content-length": str(len(payload))}
        if status == 206:
            response_headers["content-range"] = f"bytes {claimed_start}-{len(self.artifact) - 1}/{total}"
        self.sent_per_request.append(0)
        return HttpResponse(status, response_headers, self._body(payload, start))

    def _body(self, payload: bytes, start: int) -> Iterator[bytes]:
        position = 0
        while position < len(payload):
            absolute = start + position
            cuts = [c for c in self.script.cut_at if c > absolute]
            end = min(position + self.chunk, len(payload))
            if cuts:
                end = min(end, cuts[0] - start)
            piece = payload[position:end]
            self.sent_per_request[-1] += len(piece)
            if self.script.trickle_s:
                time.sleep(self.script.trickle_s)
            yield piece
            position = end
            if cuts and start + position == cuts[0]:
                self.script.cut_at.remove(cuts[0])
                raise CloudUnavailable(f"connection reset at byte {cuts[0]}")


class FakeCloud:
    """desired + artifacts + reports of cloud-sync, as a Transport; artifacts are package tars."""

    def __init__(self) -> None:
        self.desired: list[dict[str, object]] = []
        self.artifacts: dict[str, FakeArtifactServer] = {}
        self.reports: list[dict[str, object]] = []
        self.down = False

    def offer(self, name: str, version: str, tar: bytes, **extra: object) -> None:
        """Make the desired state ask for this package."""
        path = f"/api/v1/models/{name}/{version}/artifact"
        self.artifacts[path] = FakeArtifactServer(tar)
        entry = {
            "name": name,
            "version": version,
            "artifact_url": path,
            "artifact_sha256": hashlib.sha256(tar).hexdigest(),
            "artifact_size": len(tar),
            "rollout_id": 1,
            "probation_s": 0,
            **extra,
        }
        self.desired = [e for e in self.desired if e["name"] != name] + [entry]

    def states(self, name: str) -> list[str]:
        """Reported states of a model, in order."""
        return [str(r["state"]) for r in self.reports if r["name"] == name]

    def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None = None, timeout: float = 30.0
    ) -> HttpResponse:
        if self.down:
            raise CloudUnavailable("cloud is down")
        path = "/" + url.split("://", 1)[-1].split("/", 1)[-1]
        if path.endswith("/desired"):
            return HttpResponse(200, {}, iter([json.dumps({"models": self.desired}).encode()]))
        if path.endswith("/report"):
            self.reports.append(json.loads(body or b"{}"))
            return HttpResponse(204, {}, iter(()))
        if path in self.artifacts:
            return self.artifacts[path].request(method, url, headers, body, timeout)
        return HttpResponse(404, {}, iter([b'{"error":"not_found"}']))

"""Given an artifact server that cuts, lies, over-sends or trickles, downloads resume or fail cleanly."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from edge_agent.ota.download import DownloadLimits, download_artifact
from edge_agent.ota.http import CloudUnavailable, DownloadError
from tests.edge_agent.ota.fake_cloud import FakeArtifactServer, ServerScript

ARTIFACT = os.urandom(300_000)
SHA = hashlib.sha256(ARTIFACT).hexdigest()


def _fetch(server: FakeArtifactServer, dest: Path, limits: DownloadLimits | None = None) -> int:
    return download_artifact(server, "http://cloud/a.tar", {}, dest, len(ARTIFACT), SHA, limits)


def _fetch_until_done(server: FakeArtifactServer, dest: Path, attempts: int = 10) -> int:
    for attempt in range(attempts):
        try:
            _fetch(server, dest)
            return attempt + 1
        except CloudUnavailable:
            continue
    raise AssertionError("download never completed")


@pytest.mark.parametrize("cuts", [[1], [4096], [150_000], [299_999], [10_000, 20_000, 250_000]])
def test_a_cut_connection_resumes_from_where_it_stopped(tmp_path: Path, cuts: list[int]) -> None:
    server = FakeArtifactServer(ARTIFACT, ServerScript(cut_at=list(cuts)))
    dest = tmp_path / "a.tar"
    attempts = _fetch_until_done(server, dest)
    assert dest.read_bytes() == ARTIFACT and attempts == len(cuts) + 1
    assert sum(server.sent_per_request) == len(ARTIFACT)  # nothing fetched twice
    assert all(sent <= 1.2 * len(ARTIFACT) for sent in server.sent_per_request)
    assert server.requests[1]["Range"] == f"bytes={cuts[0]}-"


def test_a_server_that_ignores_range_restarts_cleanly(tmp_path: Path) -> None:
    server = FakeArtifactServer(ARTIFACT, ServerScript(cut_at=[100_000]))
    dest = tmp_path / "a.tar"
    with pytest.raises(CloudUnavailable):
        _fetch(server, dest)
    server.script.ignore_range = True
    _fetch(server, dest)
    assert dest.read_bytes() == ARTIFACT


@pytest.mark.parametrize("fault", ["wrong_range_start", "wrong_total"])
def test_a_wrong_content_range_is_refused_and_nothing_is_installed(tmp_path: Path, fault: str) -> None:
    server = FakeArtifactServer(ARTIFACT, ServerScript(cut_at=[50_000]))
    dest = tmp_path / "a.tar"
    with pytest.raises(CloudUnavailable):
        _fetch(server, dest)
    setattr(server.script, fault, True)
    with pytest.raises(DownloadError, match="server"):
        _fetch(server, dest)
    assert not dest.exists()


def test_garbage_fails_the_digest_and_leaves_nothing_behind(tmp_path: Path) -> None:
    server = FakeArtifactServer(ARTIFACT, ServerScript(garbage=True))
    dest = tmp_path / "a.tar"
    with pytest.raises(DownloadError, match="sha256"):
        _fetch(server, dest)
    assert list(tmp_path.iterdir()) == []


def test_more_bytes_than_declared_stop_the_transfer_within_the_cap(tmp_path: Path) -> None:
    server = FakeArtifactServer(ARTIFACT, ServerScript(extra_bytes=5_000_000))
    dest = tmp_path / "a.tar"
    with pytest.raises(DownloadError, match="more than"):
        _fetch(server, dest)
    assert server.sent_per_request[0] <= 1.2 * len(ARTIFACT)
    assert list(tmp_path.iterdir()) == []


def test_a_trickling_server_is_abandoned_and_the_download_resumes_later(tmp_path: Path) -> None:
    server = FakeArtifactServer(ARTIFACT, ServerScript(trickle_s=0.01), chunk=256)
    dest = tmp_path / "a.tar"
    slow = DownloadLimits(min_rate_bytes_s=100_000, rate_grace_s=0.2)
    with pytest.raises(CloudUnavailable, match="too slow"):
        _fetch(server, dest, slow)
    kept = (tmp_path / "a.tar.part").stat().st_size
    assert 0 < kept < len(ARTIFACT)
    server.script.trickle_s = 0.0
    server.chunk = 65536
    _fetch(server, dest)
    assert dest.read_bytes() == ARTIFACT
    assert server.requests[-1]["Range"] == f"bytes={kept}-"


def test_a_stale_oversized_part_file_is_discarded(tmp_path: Path) -> None:
    (tmp_path / "a.tar.part").write_bytes(b"\0" * (len(ARTIFACT) + 10))
    _fetch(FakeArtifactServer(ARTIFACT), tmp_path / "a.tar")
    assert (tmp_path / "a.tar").read_bytes() == ARTIFACT

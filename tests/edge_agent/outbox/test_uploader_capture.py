"""Given records in the outbox and a cloud that comes and goes, everything arrives once; captures obey caps."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from edge_agent.config import CapturePolicy
from edge_agent.ota.http import CloudUnavailable, HttpResponse
from edge_agent.outbox.capture import HardExampleCapture
from edge_agent.outbox.store import Outbox
from edge_agent.outbox.uploader import InferenceLoad, Uploader, UploaderSettings
from tests.builders import inspection_result


class BatchCloud:
    """The batches endpoint of cloud-sync (our Transport protocol): dedupes on (stream, seq), can be down."""

    def __init__(self) -> None:
        self.stored: dict[tuple[str, int], bytes] = {}
        self.received = 0
        self.down = False
        self.lose_reply = False

    def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None = None, timeout: float = 30.0
    ) -> HttpResponse:
        if self.down:
            raise CloudUnavailable("connection refused")
        document = json.loads(body or b"{}")
        for record in document["records"]:
            self.received += 1
            self.stored.setdefault((record["stream"], record["seq"]), base64.b64decode(record["body_b64"]))
        if self.lose_reply:  # stored, but the answer never reaches the gateway: it must resend, the cloud dedupes
            raise CloudUnavailable("connection reset after the request was sent")
        acked = [r["seq"] for r in document["records"]]
        return HttpResponse(200, {}, iter([json.dumps({"acked": acked}).encode()]))


def test_six_cloud_outages_while_the_line_runs_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db", budget_bytes=256 * 1024 * 1024, commit_interval_s=0.005)
    cloud = BatchCloud()
    uploader = Uploader(
        outbox, cloud, UploaderSettings("http://cloud", "gw-1", "t", max_records=200, idle_s=0.01, backoff_max_s=0.05)
    )
    thread = threading.Thread(target=uploader.run, daemon=True)
    thread.start()
    produced: set[tuple[str, int]] = set()
    for cycle in range(6):
        cloud.down = True
        stream = f"health/a{cycle % 2}"
        futures = [outbox.append(stream, "health", f"{cycle}-{i}".encode()) for i in range(300)]
        for future in futures:
            seq = future.result(5)
            assert seq is not None
            produced.add((stream, seq))
        cloud.lose_reply = cycle == 3
        cloud.down = False
        time.sleep(0.3)
        cloud.lose_reply = False
    deadline = time.monotonic() + 20
    while outbox.count and time.monotonic() < deadline:
        time.sleep(0.05)
    uploader.stop()
    thread.join(5)
    assert set(cloud.stored) == produced
    assert outbox.count == 0
    assert cloud.received >= len(produced)  # at-least-once; the cloud's (stream, seq) key removes repeats
    outbox.close()


def _result(i: int, verdict: str = "ok", margin: float = 0.9) -> dict[str, object]:
    return inspection_result(i, verdict, margin)


def test_ng_and_low_margin_inputs_are_captured_within_the_hourly_cap() -> None:
    capture = HardExampleCapture(CapturePolicy(audit_rate=0.0, max_per_hour=3, low_margin=0.1), seed=1)
    reasons = [
        capture.consider("cam-1", b"jpeg", "image/jpeg", _result(0, "ng")),
        capture.consider("cam-1", b"jpeg", "image/jpeg", _result(1, "ok", margin=0.05)),
        capture.consider("cam-1", b"jpeg", "image/jpeg", _result(2, "ok")),
    ]
    assert [r[0] if r else None for r in reasons] == ["ng", "low_margin", None]
    more = [capture.consider("cam-1", b"jpeg", "image/jpeg", _result(3 + i, "ng")) for i in range(5)]
    assert sum(r is not None for r in more) == 1 and capture.capped == 4
    sample = reasons[0][1] if reasons[0] else {}
    assert sample["input_sha256"] and sample["model"]["version"] == "1.0.0"


def test_a_plc_label_joins_its_part_and_a_disagreement_is_captured() -> None:
    capture = HardExampleCapture(CapturePolicy(audit_rate=0.0, ng=False, low_margin=None), seed=1)
    capture.consider("cam-1", b"frame-7", "image/jpeg", _result(7, "ok"))
    joined = capture.join_label("cam-1", "scratch", "P7", None)
    assert joined is not None and joined.predicted == "ok"
    sample = capture.capture_disagreement(joined, "scratch")
    assert sample is not None and sample["reason"] == "disagreement" and sample["label"] == "scratch"
    assert capture.capture_disagreement(joined, "scratch") is None  # once is enough
    by_time = capture.join_label("cam-1", "ok", None, 1007 + 500)
    assert by_time is not None and by_time.part_id == "P7"
    assert capture.join_label("cam-1", "ok", None, 1007 + 60_000) is None


class PickyCloud(BatchCloud):
    """Refuses (400) any batch that holds a record it cannot read."""

    def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None = None, timeout: float = 30.0
    ) -> HttpResponse:
        document = json.loads(body or b"{}")
        if any(base64.b64decode(r["body_b64"]) == b"poison" for r in document["records"]):
            return HttpResponse(400, {}, iter([b'{"error": "bad_batch"}']))
        return super().request(method, url, headers, body, timeout)


def test_one_record_the_cloud_refuses_is_isolated_and_dropped_without_blocking_the_rest(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db", budget_bytes=64 * 1024 * 1024, commit_interval_s=0.005)
    futures = [outbox.append("events", "event", b"poison" if i == 37 else f"e{i}".encode()) for i in range(100)]
    seqs = [f.result(5) for f in futures]
    cloud = PickyCloud()
    uploader = Uploader(outbox, cloud, UploaderSettings("http://cloud", "gw-1", "t", max_records=64))
    for _ in range(60):
        if outbox.count == 0:
            break
        uploader.upload_once()
    assert outbox.count == 0 and uploader.refused == 1
    assert {seq for _, seq in cloud.stored} == {s for i, s in enumerate(seqs) if i != 37}
    outbox.close()


def test_a_new_outbox_numbers_its_records_above_any_earlier_one(tmp_path: Path) -> None:
    first = Outbox(tmp_path / "a.db", budget_bytes=1024 * 1024)
    old = first.append("events", "event", b"x").result(5)
    first.close()
    (tmp_path / "a.db").unlink()  # e.g. a corrupt file was moved aside
    second = Outbox(tmp_path / "a.db", budget_bytes=1024 * 1024)
    new = second.append("events", "event", b"y").result(5)
    assert old is not None and new is not None and new > old
    second.close()


class SlowCloud(BatchCloud):
    """Each batch takes 20 ms to answer; counts the batches."""

    def __init__(self) -> None:
        super().__init__()
        self.batches = 0

    def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None = None, timeout: float = 30.0
    ) -> HttpResponse:
        time.sleep(0.02)
        self.batches += 1
        return super().request(method, url, headers, body, timeout)


def test_the_uploader_yields_to_a_backlogged_line_and_drains_at_full_speed_when_the_line_is_idle(
    tmp_path: Path,
) -> None:
    # given a backlog and a cloud that takes 20 ms per batch
    outbox = Outbox(tmp_path / "o.db", budget_bytes=64 * 1024 * 1024, commit_interval_s=0.005)
    futures = [outbox.append("health/a", "health", f"h{i}".encode()) for i in range(20_000)]
    futures[-1].result(10)
    cloud = SlowCloud()
    load = [InferenceLoad.BACKLOGGED]
    settings = UploaderSettings("http://cloud", "gw-1", "t", max_records=10, busy_share=0.2)
    uploader = Uploader(outbox, cloud, settings, load=lambda: load[0])
    thread = threading.Thread(target=uploader.run, daemon=True)
    thread.start()
    # when inputs wait for inference for a second, then the line is idle for a second
    time.sleep(1.0)
    while_backlogged = cloud.batches
    load[0] = InferenceLoad.IDLE
    time.sleep(1.0)
    while_idle = cloud.batches - while_backlogged
    uploader.stop()
    thread.join(5)
    # then batches take at most about a fifth of the backlogged second, but still flow; idle, they run back to back
    assert 1 <= while_backlogged <= 14
    assert while_idle >= 2 * while_backlogged
    assert uploader.paced_s > 0.5
    outbox.close()


def test_the_upload_share_grows_while_inference_keeps_up_and_drops_to_the_floor_when_inputs_wait() -> None:
    # given an uploader with a 5% floor that grows by 5% per batch
    settings = UploaderSettings("http://cloud", "gw-1", "t", busy_share=0.05, share_step=0.05)
    uploader = Uploader(Outbox.__new__(Outbox), BatchCloud(), settings)
    # when inference is active without a queue, then each batch may take a larger share, up to all of it
    shares = []
    for _ in range(25):
        uploader.share = uploader._next_share(InferenceLoad.ACTIVE)
        shares.append(round(uploader.share, 2))
    assert shares[:3] == [0.05, 0.1, 0.15] and shares[-1] == 1.0 and shares == sorted(shares)
    # when inputs start to wait, then it is back at the floor at once; idle, it is unpaced
    assert uploader._next_share(InferenceLoad.BACKLOGGED) == 0.05
    assert uploader._next_share(InferenceLoad.IDLE) == 1.0

"""Given frame limits, when garbage arrives on a camera topic, then the MQTT thread counts it and never queues it."""

from __future__ import annotations

import numpy as np

from edge_agent.ingest.images import ImageLimits
from edge_agent.mqtt import InboundMessage
from edge_agent.queues import DropQueue
from edge_agent.service import AgentService, Topics
from edge_agent.stats import AgentStats
from models.training.surfaces import generate_surface

NS = "factory/v1/p/l"


def test_garbage_frames_are_malformed_before_the_queue_and_real_frames_keep_their_slots() -> None:
    service = AgentService(
        Topics(NS, "gw-1"),
        cameras={"cam-1": "surface-inspection"},
        assets={},
        frames=DropQueue(2, "drop_oldest"),
        windows=DropQueue(2, "block_then_drop", 0.01),
        stats=AgentStats(),
        store=None,
        frame_limits=ImageLimits(max_pixels=10_000_000),
    )
    good = generate_surface(np.random.default_rng(1), "ok", 128).jpeg
    garbage = [b"", b"\x00garbage", b"\x89PNG\r\n\x1a\n" + bytes(8), b"\xff\xd8\xff\xc0\x00\x11\x08\xff\xff\xff\xff"]
    service.on_message(InboundMessage(f"{NS}/cam/cam-1/frame", good, {"part_id": "real"}))
    for payload in garbage * 10:
        service.on_message(InboundMessage(f"{NS}/cam/cam-1/frame", payload))
    queued = service.frames.get_batch(10, 0.1)
    assert [item.properties.get("part_id") for item in queued] == ["real"]
    counters = service.stats.counters()
    assert counters[("malformed", "cam/cam-1")] == 40 and counters.get(("dropped", "cam/cam-1"), 0) == 0

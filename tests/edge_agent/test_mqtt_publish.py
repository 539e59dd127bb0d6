"""The agent's one-pass PUBLISH decoder reads exactly what paho's own decoder reads, and declines what it cannot."""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from paho.mqtt import _packet
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge_agent.demo.devbroker import DevBroker
from edge_agent.mqtt import InboundMessage, MqttClient, MqttSettings
from edge_agent.mqtt_publish import decode_publish_v5


def _packet_bytes(topic: bytes, qos: int, mid: int, properties: Properties | None, payload: bytes) -> bytearray:
    """Everything after the fixed header of a PUBLISH, as paho's reader hands it over."""
    props = properties.pack() if properties is not None else b"\x00"
    return bytearray(struct.pack("!H", len(topic)) + topic + (struct.pack("!H", mid) if qos else b"") + props + payload)


def _paho(header: int, packet: bytearray) -> Any:
    return _packet.decode_publish(header, packet, MQTTProtocolVersion.MQTTv5)


def _props(**values: Any) -> Properties:
    props = Properties(PacketTypes.PUBLISH)
    for name, value in values.items():
        setattr(props, name, value)
    return props


CASES = [
    (0x30, b"a/b", 0, None, b""),
    (0x32, b"l/cam/cam-1/frame", 1, _props(UserProperty=[("part_id", "P-1"), ("ts_ms", "17")]), b"\xd8" * 80_000),
    (0x3B, b"x", 1, _props(UserProperty=[("k", "v"), ("k", "v2"), ("ünï", "cödé")]), b"payload"),
    (
        0x33,
        b"t/all",
        1,
        _props(
            PayloadFormatIndicator=1,
            MessageExpiryInterval=3600,
            ContentType="application/json",
            ResponseTopic="reply/to",
            CorrelationData=b"\x00\x01\x02",
            SubscriptionIdentifier=[7, 300_000],
            TopicAlias=5,
            UserProperty=[("a", "b")],
        ),
        b'{"ok": true}',
    ),
]  # fmt: skip


@pytest.mark.parametrize("header,topic,qos,properties,payload", CASES)
def test_given_a_publish_when_decoded_then_every_field_equals_pahos_reading(
    header: int, topic: bytes, qos: int, properties: Properties | None, payload: bytes
) -> None:
    packet = _packet_bytes(topic, qos, 4242, properties, payload)
    theirs = _paho(header, bytearray(packet))
    ours = decode_publish_v5(header, packet)
    assert ours is not None
    assert (ours.dup, ours.qos, ours.retain, ours.topic, ours.mid) == (
        theirs.dup,
        theirs.qos,
        theirs.retain,
        theirs.topic,
        theirs.mid,
    )
    assert ours.payload == bytes(theirs.payload)
    expected = {name: value for name, value in vars(theirs.properties).items() if name not in vars(_props())}
    assert ours.properties == expected


def test_given_what_it_does_not_handle_when_decoded_then_it_declines_for_pahos_decoder() -> None:
    good = _packet_bytes(b"t", 1, 1, _props(UserProperty=[("k", "v")]), b"x")
    assert decode_publish_v5(0x34, good) is None  # QoS 2
    assert decode_publish_v5(0x32, good[:9]) is None  # cut inside the user property
    assert decode_publish_v5(0x32, bytearray(b"\x00\x10ab")) is None  # topic longer than the packet
    unknown = bytearray(b"\x00\x01t\x00\x01" + b"\x02\x17\x01" + b"x")  # property 0x17 is not a PUBLISH one
    assert decode_publish_v5(0x32, unknown) is None
    twice = bytearray(b"\x00\x01t\x00\x01" + b"\x04\x01\x01\x01\x00" + b"x")  # payload format indicator twice
    assert decode_publish_v5(0x32, twice) is None
    bad_utf8 = bytearray(b"\x00\x01t\x00\x01" + b"\x07\x26\x00\x01\xff\x00\x01v" + b"x")
    assert decode_publish_v5(0x32, bad_utf8) is None


def _connected_pair(
    broker: DevBroker, handler: Callable[[InboundMessage], None], topic: str, tag: str
) -> tuple[MqttClient, MqttClient]:
    """A receiver subscribed to `topic` and a sender, both connected to the broker."""
    receiver = MqttClient(
        MqttSettings(host="127.0.0.1", port=broker.port, client_id=f"rx{tag}", session_expiry_s=0), handler
    )
    receiver.subscribe([topic])
    receiver.start()
    sender = MqttClient(
        MqttSettings(host="127.0.0.1", port=broker.port, client_id=f"tx{tag}", session_expiry_s=0), print
    )
    sender.start()
    assert receiver.wait_connected(10) and sender.wait_connected(10)
    time.sleep(0.3)  # the subscription is in place
    return receiver, sender


def test_given_a_real_broker_when_frames_with_user_properties_arrive_then_the_handler_sees_them_intact(
    broker: DevBroker,
) -> None:
    got: list[InboundMessage] = []
    done = threading.Event()

    def handler(message: InboundMessage) -> None:
        got.append(message)
        if len(got) == 50:
            done.set()

    receiver, sender = _connected_pair(broker, handler, "cam/+/frame", "1")
    try:
        frame = bytes(range(256)) * 200
        for i in range(50):
            sender.publish(f"cam/c{i % 3}/frame", frame + bytes([i]), qos=1, user_properties={"part_id": f"P-{i}"})
        assert done.wait(15), f"{len(got)} of 50 arrived"
    finally:
        sender.stop()
        receiver.stop()
    by_part = {m.user_properties["part_id"]: m for m in got}
    assert sorted(by_part) == sorted(f"P-{i}" for i in range(50))
    assert all(by_part[f"P-{i}"].payload == frame + bytes([i]) for i in range(50))
    assert by_part["P-4"].topic == "cam/c1/frame"


def test_given_publishes_from_several_threads_and_one_after_a_pause_then_each_leaves_at_once(broker: DevBroker) -> None:
    # given a subscriber that timestamps arrivals, and a sender whose network thread idles in select()
    arrived: dict[str, float] = {}
    lock = threading.Lock()

    def handler(message: InboundMessage) -> None:
        with lock:
            arrived[message.payload.decode()] = time.monotonic()

    receiver, sender = _connected_pair(broker, handler, "results/#", "2")
    try:
        # when three threads publish 300 QoS 1 results each at once (one wake-up may stand for many packets)
        def burst(name: str) -> None:
            for i in range(300):
                sender.publish(f"results/{name}", f"{name}-{i}", qos=1)

        threads = [threading.Thread(target=burst, args=(f"t{k}",)) for k in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        deadline = time.monotonic() + 10
        while len(arrived) < 900 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(arrived) == 900
        # and, after a pause long enough for the network thread to sleep in select(), single results one by one
        for i in range(5):
            time.sleep(0.3)
            sent = time.monotonic()
            sender.publish("results/late", f"late-{i}", qos=1)
            while f"late-{i}" not in arrived and time.monotonic() - sent < 2.0:
                time.sleep(0.002)
            # then each leaves at once: paho's select() waits up to 1 s when nothing wakes it
            assert arrived.get(f"late-{i}", float("inf")) - sent < 0.2
        assert sender.pending() == 0  # every QoS 1 message acknowledged
    finally:
        sender.stop()
        receiver.stop()

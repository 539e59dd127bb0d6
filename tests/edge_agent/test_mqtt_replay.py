"""The replay window: what is sent again after a broker lost what it had acknowledged."""

from __future__ import annotations

import threading

from edge_agent.mqtt_replay import AckedReplayWindow, OutgoingMessage


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _message(n: int) -> OutgoingMessage:
    return OutgoingMessage(f"t/{n}", f"payload-{n}".encode(), False)


def test_messages_acknowledged_just_before_a_drop_are_sent_again_once() -> None:
    # Given three messages acknowledged 5 s, 2 s and 0.5 s before the connection drops (window 3 s)
    clock = FakeClock()
    window = AckedReplayWindow(3.0, clock)
    for n in (1, 2, 3):
        window.sent(n, _message(n))
    clock.now = 95.0
    window.acked(1)
    clock.now = 98.0
    window.acked(2)
    clock.now = 99.5
    window.acked(3)
    clock.now = 100.0
    # When the connection drops and comes back
    due = window.disconnected()
    replay = window.take_replay()
    # Then the two inside the window are due, in order, and handed out only once
    assert due == 2
    assert [m.topic for m in replay] == ["t/2", "t/3"]
    assert window.take_replay() == []


def test_a_puback_that_overtakes_the_record_of_its_send_still_counts() -> None:
    # Given a PUBACK that the network thread handles before the publishing thread records the message
    clock = FakeClock()
    window = AckedReplayWindow(3.0, clock)
    window.acked(7)
    window.sent(7, _message(7))
    # When the connection drops right after
    window.disconnected()
    # Then the message is sent again
    assert [m.topic for m in window.take_replay()] == ["t/7"]


def test_unacknowledged_messages_are_left_to_the_client_and_not_replayed() -> None:
    # Given a message sent but never acknowledged (the MQTT client re-sends those itself)
    window = AckedReplayWindow(3.0, FakeClock())
    window.sent(1, _message(1))
    # When the connection drops
    assert window.disconnected() == 0
    # Then nothing is replayed twice, and once its PUBACK comes after the reconnect it is not due either
    assert window.take_replay() == []


def test_memory_stays_bounded_under_a_flood_of_acknowledged_messages() -> None:
    # Given a small cap and many messages acknowledged inside the window
    window = AckedReplayWindow(60.0, FakeClock(), max_messages=100)
    for n in range(1000):
        window.sent(n % 65535 + 1, _message(n))
        window.acked(n % 65535 + 1)
    # When the connection drops, then at most the cap is replayed (the newest ones)
    assert window.disconnected() == 100
    assert window.take_replay()[-1].topic == "t/999"


def test_concurrent_sends_and_acks_lose_no_message() -> None:
    # Given one thread sending and another acknowledging the same ids in any order
    window = AckedReplayWindow(60.0, FakeClock())
    mids = list(range(1, 5001))

    def ack_all() -> None:
        for mid in mids:
            window.acked(mid)

    acker = threading.Thread(target=ack_all)
    acker.start()
    for mid in mids:
        window.sent(mid, _message(mid))
    acker.join()
    # When the connection drops, then every message is due exactly once
    window.disconnected()
    assert sorted(int(m.topic[2:]) for m in window.take_replay()) == mids

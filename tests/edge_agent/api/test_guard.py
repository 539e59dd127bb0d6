"""Given the API's guard, the token is checked in constant time and each client holds at most its share of slots."""

from __future__ import annotations

import threading

import pytest

from edge_agent.api.guard import Guard
from edge_agent.api.tensors import ApiError, Status


def test_given_a_client_at_its_limit_when_it_asks_again_then_it_is_told_exhausted_and_others_are_not() -> None:
    guard = Guard(token=None, per_client=2)
    with guard.client_slot("10.0.0.5"), guard.client_slot("10.0.0.5"):
        # When the same client asks for a third slot, it gets 429 / RESOURCE_EXHAUSTED with the reason
        with pytest.raises(ApiError) as refused, guard.client_slot("10.0.0.5"):
            pass
        assert refused.value.status is Status.EXHAUSTED and refused.value.status.http == 429
        assert "2 requests in flight (limit 2)" in str(refused.value)
        # and another client is served meanwhile
        with guard.client_slot("10.0.0.6"):
            pass
    # Then, once its requests are answered, the client has its slots back (also after a request that failed)
    with pytest.raises(RuntimeError), guard.client_slot("10.0.0.5"):
        raise RuntimeError("the model failed")
    with guard.client_slot("10.0.0.5"), guard.client_slot("10.0.0.5"):
        pass


def test_given_many_threads_of_one_client_then_never_more_than_its_limit_run_at_once() -> None:
    guard = Guard(token=None, per_client=3)
    running, peak, refused = [0], [0], [0]
    lock, go = threading.Lock(), threading.Event()

    def call() -> None:
        go.wait()
        try:
            with guard.client_slot("mes"):
                with lock:
                    running[0] += 1
                    peak[0] = max(peak[0], running[0])
                threading.Event().wait(0.05)
                with lock:
                    running[0] -= 1
        except ApiError:
            with lock:
                refused[0] += 1

    threads = [threading.Thread(target=call) for _ in range(20)]
    for thread in threads:
        thread.start()
    go.set()
    for thread in threads:
        thread.join()
    assert peak[0] <= 3 and refused[0] > 0


@pytest.mark.parametrize(
    ("header", "reason"),
    [(None, "missing bearer token"), ("Basic abc", "missing bearer token"), ("Bearer nope", "wrong bearer token")],
)
def test_given_a_token_then_calls_without_it_are_unauthenticated(header: str | None, reason: str) -> None:
    guard = Guard(token="s3cret-token", per_client=4)
    with pytest.raises(ApiError, match=reason) as refused:
        guard.check_token(header)
    assert refused.value.status is Status.UNAUTHENTICATED
    guard.check_token("Bearer s3cret-token")
    Guard(token=None, per_client=4).check_token(None)  # no token configured: loopback serves anyone

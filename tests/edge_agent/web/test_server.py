"""Given the agent serving the page with waitress beside its other threads, it answers and stops cleanly."""

from __future__ import annotations

import socket
import time
import urllib.request

import pytest

from edge_agent.errors import ConfigError
from edge_agent.web import WebSettings, create_app, serve_in_thread
from tests.edge_agent.web.fakes import FakeView


def test_waitress_serves_on_a_free_port_and_stops_with_a_connection_open() -> None:
    app = create_app(FakeView(), WebSettings(port=0), environ={})
    handle = serve_in_thread(app, "127.0.0.1", 0)
    try:
        assert handle.port > 0 and handle.running
        with urllib.request.urlopen(f"{handle.url}/livez", timeout=5) as response:
            assert response.status == 200 and response.headers["X-Frame-Options"] == "DENY"
        with urllib.request.urlopen(f"{handle.url}/api/v1/status", timeout=5) as response:
            assert b'"gateway":"gw-test"' in response.read()
        # a browser's idle keep-alive connection must not hold the shutdown
        idle = socket.create_connection(("127.0.0.1", handle.port), timeout=5)
    finally:
        started = time.monotonic()
        handle.stop(timeout=5)
    assert not handle.running and time.monotonic() - started < 3
    idle.close()
    try:
        socket.create_connection(("127.0.0.1", handle.port), timeout=1).close()
        raise AssertionError("still listening after stop()")
    except OSError:
        pass


def test_a_taken_port_is_a_config_error_naming_the_address() -> None:
    app = create_app(FakeView(), WebSettings(), environ={})
    first = serve_in_thread(app, "127.0.0.1", 0)
    try:
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{first.port}"):
            serve_in_thread(app, "127.0.0.1", first.port)
    finally:
        first.stop()

"""Serve the status page with waitress on a background thread, beside the agent's other threads."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any

from flask import Flask

from edge_agent.errors import ConfigError

log = logging.getLogger(__name__)


class ServerHandle:
    """A running waitress server: where it listens, and stop()."""

    def __init__(self, server: Any, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        listen = getattr(server, "effective_listen", None)
        if listen:  # several sockets (a name like localhost that resolves to IPv4 and IPv6)
            self.host, self.port = str(listen[0][0]), int(listen[0][1])
        else:
            self.host, self.port = str(server.effective_host), int(server.effective_port)

    @property
    def url(self) -> str:
        """Base URL of the page."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        """True until stop() finished."""
        return self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        """Close the listening sockets and open connections, then wait for the serving thread."""
        from waitress import wasyncore

        socket_map = getattr(self._server, "_map", None) or getattr(self._server, "map", {})
        # the event loop only ends when its map is empty; idle keep-alive connections would hold it otherwise
        trigger = getattr(self._server, "trigger", None)
        if trigger is not None:  # wake the loop from its select() so it sees the emptied map now, not in 1 s
            with contextlib.suppress(OSError, ValueError):
                trigger.pull_trigger()
        wasyncore.close_all(socket_map)
        task_dispatcher = getattr(self._server, "task_dispatcher", None)
        if task_dispatcher is not None:
            task_dispatcher.shutdown(cancel_pending=True, timeout=timeout)
        # the loop thread may be inside a poll that re-registers a channel: keep emptying the map until it ends
        deadline = time.monotonic() + timeout
        while self._thread.is_alive() and time.monotonic() < deadline:
            wasyncore.close_all(socket_map)
            self._thread.join(0.05)
        if self._thread.is_alive():
            log.warning("status page server did not stop within %.1f s", timeout)


def serve_in_thread(app: Flask, host: str, port: int, threads: int = 4) -> ServerHandle:
    """Bind now (ConfigError when the address is taken) and serve on a daemon thread; port 0 picks a free port."""
    from waitress.server import create_server

    # a page load fetches a dozen thumbnails at once; waitress warns about every such burst as "queue depth"
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    try:
        server = create_server(
            app,
            host=host,
            port=port,
            threads=threads,
            ident="edge-agent",
            # how quickly the loop notices stop(); waitress takes whole seconds (int(0.5) == 0 made select()
            # return at once, and the idle page thread spun a whole core)
            asyncore_loop_timeout=1,
            clear_untrusted_proxy_headers=True,
        )
    except OSError as exc:
        raise ConfigError(f"web.host/web.port: cannot listen on {host}:{port} ({exc.strerror or exc})") from exc

    def run() -> None:
        try:
            server.run()
        except (OSError, ValueError) as exc:  # stop() closed the sockets under the loop's select()
            log.debug("status page server loop ended: %s", exc)

    thread = threading.Thread(target=run, name="web", daemon=True)
    thread.start()
    handle = ServerHandle(server, thread)
    log.info("status page on %s", handle.url)
    return handle

"""The agent's store-and-forward half as a process: appends records, uploads them, prints each acknowledged seq.

Run by the kill -9 test: python -m tests.e2e.outbox_upload_child DB FIRST_VALUE CLOUD_URL TOKEN
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from edge_agent.ota.http import UrllibTransport
from edge_agent.outbox.store import Outbox
from edge_agent.outbox.uploader import Uploader, UploaderSettings


def _body(value: int) -> bytes:
    return f'{{"ts_ms":{1_700_000_000_000 + value},"asset":"pump-1","n":{value}}}'.encode()


def main() -> int:
    path, first, url, token = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    # the agent's own settings: 50 ms group commit, batches of up to 1000 records
    outbox = Outbox(path, budget_bytes=64 * 1024 * 1024, commit_interval_s=0.05)
    settings = UploaderSettings(url, "gw-1", token, max_records=1000, idle_s=0.02, backoff_max_s=0.2)
    uploader = Uploader(outbox, UrllibTransport(), settings)
    threading.Thread(target=uploader.run, daemon=True).start()
    for start in range(first, first + 10_000_000, 50):
        # pipelined like the agent's service: a burst of appends in flight, each acknowledged by its future
        futures = [
            (value, outbox.append("health/pump-1", "health", _body(value))) for value in range(start, start + 50)
        ]
        for value, future in futures:
            print(f"{future.result(timeout=10)} {value}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""CPU affinity for the benches: the measured process on its own cores, the load generators on the others.

On a 2-core machine a publisher or client flooding at full speed takes the cores the agent is measured on, and
the bare runtime it is compared with has the machine to itself; pinning measures both on the same cores.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


def split_cores(measured: int) -> tuple[set[int], set[int]]:
    """(the last `measured` cores this process may use, the rest); ValueError when that leaves none for the load."""
    cpus = sorted(os.sched_getaffinity(0))
    if not 0 < measured < len(cpus):
        raise ValueError(f"pinning {measured} of {len(cpus)} cores leaves none for the broker and the load")
    return set(cpus[-measured:]), set(cpus[:-measured])


@contextlib.contextmanager
def on_cpus(cpus: set[int] | None) -> Iterator[None]:
    """Run this thread, and the threads and processes it starts meanwhile, on `cpus` (None: as it is)."""
    if cpus is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def pin_process(pid: int, cpus: set[int]) -> None:
    """Move every thread of a running process to `cpus` (threads it starts later inherit it from their creator)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
            os.sched_setaffinity(int(task.name), cpus)

"""Per-round 1 -> N worker ratios for bench/fleet_scaling.py, with wrk's CPU per request as the host-speed canary.

wrk does the same work for every request of a kind, so its CPU per request only rises when the host itself slows
down (a noisy neighbour on a shared VM, which /proc/stat's steal does not always show). A ratio of two runs measured
back to back is only a scaling figure when neither ran on a slowed host. Also re-reads a run's printed lines.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass
from pathlib import Path

SLOW = 1.25  # wrk's CPU per request this far over its kind's fastest run: the host slowed down during the run


@dataclass
class Run:
    """One measured wrk run against one replica."""

    kind: str
    workers: int
    rate: float
    p50_ms: float
    p99_ms: float
    errors: int
    ms: dict[str, float]  # CPU ms per request: replica, postgres, wrk, bench
    cores: dict[str, float]  # cores: the same groups, plus other (the rest of the machine) and busy (all of it)
    worker_cores: list[float]
    load_before: float
    load_after: float


def host_slowdown(run: Run, runs: list[Run]) -> float:
    """wrk's CPU per request in this run over the least it took for the same kind and worker count in any run (the
    same count: at a lower request rate wrk's own idle overhead is spread over fewer requests)."""
    fastest = min(other.ms["wrk"] for other in runs if other.kind == run.kind and other.workers == run.workers)
    return run.ms["wrk"] / fastest if fastest > 0 else 1.0


def round_ratios(runs: list[Run], kind: str, first: int, last: int) -> list[tuple[float, bool]]:
    """(rate with `last` workers / rate with `first`, both runs on an unslowed host) per round, in run order."""
    ones = [run for run in runs if run.kind == kind and run.workers == first]
    tops = [run for run in runs if run.kind == kind and run.workers == last]
    return [
        (top.rate / one.rate, max(host_slowdown(one, runs), host_slowdown(top, runs)) <= SLOW)
        for one, top in zip(ones, tops)
        if one.rate > 0
    ]


def print_round_ratios(runs: list[Run], kinds: list[str], worker_counts: list[int]) -> None:
    """Per kind: every round's ratio (* = a run of the pair on a slowed host), their median, the clean rounds'."""
    first, last = worker_counts[0], worker_counts[-1]
    print(f"\n== {last}w/{first}w per round (runs measured back to back; * = host slowed: wrk's CPU per request")
    print(f"   > {SLOW}x its fastest run of that kind and worker count) ==")
    for kind in kinds:
        pairs = round_ratios(runs, kind, first, last)
        if not pairs:
            continue
        shown = " ".join(f"x{ratio:.2f}{'' if clean else '*'}" for ratio, clean in pairs)
        clean = [ratio for ratio, ok in pairs if ok]
        median_clean = f"x{statistics.median(clean):.2f} of {len(clean)}" if clean else "none clean"
        every = statistics.median(ratio for ratio, _ in pairs)
        print(f"{kind:8s} {shown:40s} median x{every:.2f}; clean rounds {median_clean}")


_LINE = re.compile(
    r"^\s+(?P<kind>\w+)\s+(?P<workers>\d+) worker\(s\):\s+(?P<rate>[\d.]+)/s\s+p50\s+(?P<p50>[\d.]+) ms\s+"
    r"p99\s+(?P<p99>[\d.]+) ms\s+errors (?P<errors>\d+).*?ms/request replica (?P<replica>[\d.]+) postgres "
    r"(?P<postgres>[\d.]+) wrk (?P<wrk>[\d.]+)\s+cores replica (?P<c_replica>[\d.]+) \[(?P<per_worker>[^\]]*)\] "
    r"postgres (?P<c_postgres>[\d.]+) wrk (?P<c_wrk>[\d.]+) other (?P<c_other>[\d.]+) busy (?P<c_busy>[\d.]+)"
    r"(?: steal (?P<c_steal>[\d.]+))?\s+load (?P<before>[\d.]+) -> (?P<after>[\d.]+)"
)


def runs_from_log(path: Path) -> list[Run]:
    """The runs a bench/fleet_scaling.py output printed, one per line, in order."""
    runs = []
    for line in path.read_text().splitlines():
        found = _LINE.match(line)
        if found is None:
            continue
        g = found.groupdict()
        cores = {name: float(g[f"c_{name}"]) for name in ("replica", "postgres", "wrk", "other", "busy")}
        cores["steal"] = float(g["c_steal"] or 0.0)
        runs.append(
            Run(
                g["kind"],
                int(g["workers"]),
                float(g["rate"]),
                float(g["p50"]),
                float(g["p99"]),
                int(g["errors"]),
                {"replica": float(g["replica"]), "postgres": float(g["postgres"]), "wrk": float(g["wrk"])},
                cores,
                [float(value) for value in g["per_worker"].split(",") if value.strip()],
                float(g["before"]),
                float(g["after"]),
            )
        )
    return runs

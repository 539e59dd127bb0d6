"""Sustained throughput, latency and CPU cost of `edge-agent run` against the bare pipeline and a naive paho script.

Prints, in one run (every figure the median of --rounds rounds): frames/s and windows/s saturated by a burst flood,
alone and as a 4-camera + 8-asset mixed load; sustained frames/s and windows/s (a steady offered rate stepped up
until the process sheds or falls behind, with the publisher's CPU meanwhile); p50/p99 end-to-end latency at 50%
of the agent's frame rate; CPU-seconds per 1,000 frames and per 1,000 windows at 50% load, and the bare
pipeline's at the same paced rates; RSS and time to ready; the same for (a) the bare pipeline (decode +
preprocess + run, as many threads as the agent has workers, no MQTT) and (b) a naive paho-callback script
(bench/naive_agent.py); ratios; the CPU share of the bench's own publisher and subscriber, which run in processes
of their own (bench/load_client.py); scalar tag ingest; and the profile's top lines (bench/hotpath_profile.py,
needs py-spy). All three use the newest shipped packages.
Run: .venv/bin/python bench/throughput.py [--rounds 3 --frames 600 --windows 1500 --mixed 400 --no-profile]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bare import bare_paced_cpu, bare_rate  # noqa: E402
from bench_models import bench_models  # noqa: E402
from hotpath_profile import NS, agent_config, ask, profile, report, spawn_client, wait_online  # noqa: E402
from inprocess import rss_mb  # noqa: E402
from load_client import connect  # noqa: E402
from pinning import on_cpus, split_cores  # noqa: E402

from edge_agent.demo.devbroker import DevBroker  # noqa: E402

WORKERS = 2  # worker threads per pipeline in the agent's bench config; the bare pipeline gets as many threads


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def median(values: list[float]) -> float:
    """Median, NaN for no values."""
    return statistics.median(values) if values else float("nan")


def pct(values: list[float], q: float) -> float:
    """q-th percentile, NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


class Load:
    """The bench's publisher and subscriber processes, and what they cost."""

    def __init__(self, port: int) -> None:
        self.sub, self.pub = spawn_client("sub", port), spawn_client("pub", port)
        self.junk = spawn_client("pub", port)  # a second camera-side publisher, for malformed floods
        self.cpu_s = {"pub": 0.0, "sub": 0.0}
        self.wall_s = 0.0
        self.last_pub_cores = 0.0  # the publisher's CPU while it sent the last command's messages

    def run(self, pid: int, expect: int, **command: Any) -> tuple[dict[str, Any], float]:
        """One publisher command; (subscriber's reply, the measured process's CPU seconds meanwhile)."""
        ask(self.sub, op="reset")
        started, cpu = time.monotonic(), process_cpu(pid)
        sent = ask(self.pub, **command)
        got = ask(self.sub, op="wait", n=expect, idle_s=3.0)
        self.wall_s += time.monotonic() - started
        self.cpu_s["pub"] += sent["cpu_s"]
        self.cpu_s["sub"] += got["cpu_s"]
        self.last_pub_cores = sent["cpu_s"] / max(sent["sent_s"], 1e-6)
        return got, process_cpu(pid) - cpu

    def under_junk(self, pid: int, n: int) -> float:
        """Valid frames/s of a flood of n frames while the other publisher floods 3n malformed frames."""
        assert self.junk.stdin is not None and self.junk.stdout is not None
        self.junk.stdin.write(json.dumps({"op": "flood", "kind": "junk", "n": 3 * n, "sources": 4}) + "\n")
        self.junk.stdin.flush()
        got, _ = self.run(pid, n, op="flood", kind="frame", n=n, sources=4)
        self.junk.stdout.readline()
        return rate(got["counts"]["inspection"], got["span_s"])

    def close(self) -> None:
        for child in (self.pub, self.sub, self.junk):
            child.terminate()
            child.wait(10)


def rate(count: int, span_s: float) -> float:
    """Results per second over the time they kept arriving."""
    return (count - 1) / span_s if count > 1 and span_s > 0 else 0.0


def sustained(load: Load, pid: int, kind: str, start_rate: float, seconds: float) -> tuple[float, float]:
    """(results/s, publisher cores) at the highest offered rate the process kept up with, or the rate it delivered
    at the first offered rate it could not keep up with: offered rates step up by x1.2 from start_rate, each held
    for `seconds`. A burst flood measures how a process sheds a spike while the publisher itself takes a core of
    the two; this measures what a line of cameras or sensors publishing at a steady rate gets served."""
    field, sources = ("inspection", 4) if kind == "frame" else ("health", 8)
    offered, best, pub_cores = max(start_rate, 10.0), 0.0, 0.0
    for _ in range(12):
        n = int(offered * seconds)
        got, _ = load.run(pid, n, op="paced", kind=kind, rate=offered, seconds=seconds, sources=sources)
        count, span = got["counts"][field], got["span_s"]
        delivered = rate(count, span)
        if delivered > best:
            best, pub_cores = delivered, load.last_pub_cores
        if count < 0.98 * n or span > 1.1 * seconds:  # shed or fell behind: this offer is past the capacity
            break
        offered *= 1.2
    return best, pub_cores


def measure(load: Load, pid: int, args: argparse.Namespace, paced_frames: float | None) -> dict[str, float]:
    """Saturated, mixed and half-load figures of the process `pid` (agent or naive script), medians of rounds;
    the agent (paced_frames None) also under a malformed flood, which the naive script does not survive."""
    runs: dict[str, list[float]] = {}

    def keep(name: str, value: float) -> None:
        runs.setdefault(name, []).append(value)

    for _ in range(args.rounds):
        got, _ = load.run(pid, args.frames, op="flood", kind="frame", n=args.frames, sources=4)
        keep("frames/s", rate(got["counts"]["inspection"], got["span_s"]))
        keep("publisher cores, frame flood", load.last_pub_cores)
        got, _ = load.run(pid, args.windows, op="flood", kind="window", n=args.windows, sources=8)
        keep("windows/s", rate(got["counts"]["health"], got["span_s"]))
        got, _ = load.run(pid, 2 * args.mixed, op="flood", kind="mixed", n=args.mixed, sources=4)
        keep("mixed frames/s", got["counts"]["inspection"] / max(got["span_s"], 1e-6))
        keep("mixed windows/s", got["counts"]["health"] / max(got["span_s"], 1e-6))
        if paced_frames is None:
            keep("frames/s under junk", load.under_junk(pid, args.frames))
    start_frames, start_windows = 0.7 * median(runs["frames/s"]), 0.7 * median(runs["windows/s"])
    for _ in range(args.rounds):  # later rounds start just below the first round's figure
        frames, pub_cores = sustained(load, pid, "frame", start_frames, args.step_s)
        keep("sustained frames/s", frames)
        keep("publisher cores, sustained frames", pub_cores)
        windows, _ = sustained(load, pid, "window", start_windows, args.step_s)
        keep("sustained windows/s", windows)
        start_frames, start_windows = 0.85 * runs["sustained frames/s"][0], 0.85 * runs["sustained windows/s"][0]
    out = {name: median(values) for name, values in runs.items()}
    half_frames = paced_frames or max(1.0, out["frames/s"] / 2)
    half_windows = max(1.0, out["windows/s"] / 2)
    for _ in range(args.rounds):
        expect = max(10, int(half_frames * args.paced_s))
        got, cpu = load.run(pid, expect, op="paced", kind="frame", rate=half_frames, seconds=args.paced_s, sources=1)
        keep("p50 ms", pct(got["latencies_ms"], 50))
        keep("p99 ms", pct(got["latencies_ms"], 99))
        keep("cpu/1k frames", cpu / max(got["counts"]["inspection"], 1) * 1000)
        expect = max(10, int(half_windows * args.paced_s))
        got, cpu = load.run(pid, expect, op="paced", kind="window", rate=half_windows, seconds=args.paced_s, sources=8)
        keep("cpu/1k windows", cpu / max(got["counts"]["health"], 1) * 1000)
    out.update({name: median(runs[name]) for name in ("p50 ms", "p99 ms", "cpu/1k frames", "cpu/1k windows")})
    out["half-load frames/s"] = half_frames
    out["half-load windows/s"] = half_windows
    out["RSS MB"] = rss_mb(pid)
    return out


def start_agent(port: int, workdir: Path, workers: int) -> tuple[subprocess.Popen[bytes], float]:
    """`edge-agent run` with 4 cameras and 8 assets; returns it and its time to ready."""
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(agent_config(port, workdir, workers)))
    started = time.monotonic()
    agent = subprocess.Popen(
        [sys.executable, "-m", "edge_agent.cli", "run", "--config", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=open(workdir / "agent.log", "wb"),  # noqa: SIM115
    )
    wait_online(port, workdir / "agent.log", agent)
    return agent, time.monotonic() - started


def tag_ingest(port: int, n: int) -> tuple[float, int]:
    """Publish n scalar tags as fast as possible; (offered msg/s, how many the agent counted as processed)."""
    status: dict[str, Any] = {}
    probe = connect(port, "bench-tags", lambda m: status.update(json.loads(m.payload)), [f"{NS}/agent/+/status"])
    time.sleep(1.5)
    before = status["totals"]["processed"]
    pub = connect(port, "bench-tag-pub")
    started = time.monotonic()
    for i in range(n):
        pub.publish(f"{NS}/sensor/pump-1/temperature", f'{{"timestamp_ms":{i},"value":{i % 90},"quality":192}}')
    while pub.pending():
        time.sleep(0.01)
    sent_s = time.monotonic() - started
    after = -1
    while status["totals"]["processed"] != after:  # until the counters stop moving (status every second)
        after = status["totals"]["processed"]
        time.sleep(1.2)
    pub.stop()
    probe.stop()
    return n / sent_s, after - before


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--windows", type=int, default=1500)
    parser.add_argument("--mixed", type=int, default=400, help="frames (and as many windows) in a mixed flood")
    parser.add_argument("--paced-s", type=float, default=6.0, help="seconds of each half-load round")
    parser.add_argument("--step-s", type=float, default=3.0, help="seconds of each offered rate in a sustained ramp")
    parser.add_argument("--bare-s", type=float, default=4.0, help="seconds of each bare-pipeline round")
    parser.add_argument("--tags", type=int, default=30_000)
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profile")
    parser.add_argument(
        "--pin",
        type=int,
        default=0,
        metavar="N",
        help="run the measured process (agent, bare pipeline, naive script) on the last N cores with N workers, and "
        "the broker, the bench's publishers and subscriber on the others: on a small machine the load generator "
        "otherwise takes the cores the agent is measured on, and the bare pipeline has none to share",
    )
    args = parser.parse_args()
    measured: set[int] | None = None
    workers = WORKERS
    if args.pin:
        try:
            measured, rest = split_cores(args.pin)
        except ValueError as exc:
            parser.error(str(exc))
        workers = args.pin
        os.sched_setaffinity(0, rest)  # the broker and load clients started below inherit it
    where = f"measured process on CPUs {sorted(measured)}, broker and load on the rest" if measured else "unpinned"
    print(f"cores: {os.cpu_count()} ({where}); {workers} workers; load average {os.getloadavg()[0]:.2f}; ", end="")
    print(f"{args.rounds} rounds per figure")
    with on_cpus(measured):
        bare = {kind: bare_rate(kind, workers, args.bare_s, args.rounds) for kind in ("frame", "window", "window+sig")}
    with tempfile.TemporaryDirectory() as tmp, DevBroker(workdir=Path(tmp)) as broker:
        load = Load(broker.port)
        with on_cpus(measured):
            agent, ready_s = start_agent(broker.port, Path(tmp), workers)
        try:
            agent_out = measure(load, agent.pid, args, None)
            tags = tag_ingest(broker.port, args.tags)
        finally:
            agent.terminate()
            agent.wait(30)
        with on_cpus(measured):
            naive = subprocess.Popen(
                [sys.executable, str(REPO / "bench" / "naive_agent.py"), str(broker.port), NS, str(bench_models())],
                stdout=subprocess.PIPE,
            )
        try:
            assert naive.stdout is not None
            naive.stdout.readline()
            time.sleep(0.5)
            naive_out = measure(load, naive.pid, args, agent_out["half-load frames/s"])
        finally:
            naive.terminate()
            naive.wait(10)
        load.close()
    # the bare pipeline's CPU at the agent's half-load rates: per-item CPU grows when items wait for each other
    with on_cpus(measured):
        bare["frame"]["cpu_1k_paced"] = bare_paced_cpu(
            "frame", workers, agent_out["half-load frames/s"], args.bare_s, args.rounds
        )
        for kind in ("window", "window+sig"):
            bare[kind]["cpu_1k_paced"] = bare_paced_cpu(
                kind, workers, agent_out["half-load windows/s"], args.bare_s, args.rounds
            )
    print_tables(bare, agent_out, naive_out, load, ready_s, tags, workers)
    spy = shutil.which("py-spy") or (Path(sys.executable).parent / "py-spy").exists()
    if not spy and not args.no_profile:
        print("\nprofile skipped: py-spy is not installed (pip install -e '.[dev]')")
    elif not args.no_profile:
        for kind, n in (("frame", 3 * args.frames), ("window", args.windows)):
            print("\n" + "\n".join(report(kind, profile(kind, n))))
    print(f"\nload average at end {os.getloadavg()[0]:.2f}")
    return 0


def print_tables(
    bare: dict[str, dict[str, float]],
    agent: dict[str, float],
    naive: dict[str, float],
    load: Load,
    ready_s: float,
    tags: tuple[float, int],
    workers: int,
) -> None:
    """The comparison table, the ratios against the targets, and the bench's own CPU."""
    f, w, ws = bare["frame"], bare["window"], bare["window+sig"]
    nan = float("nan")
    columns = ("burst f/s", "burst w/s", "mixed f/s", "mixed w/s", "p50 ms", "p99 ms", "CPU s/1k f", "CPU s/1k w")
    rows: list[tuple[str, list[float]]] = [
        (
            f"bare pipeline ({workers} threads)",
            [f["rate"], w["rate"], nan, nan, f["p50"], nan, f["cpu_1k"], w["cpu_1k"]],
        ),
        ("  windows + baseline signature", [nan, ws["rate"], nan, nan, nan, nan, nan, ws["cpu_1k"]]),
    ]
    for name, row in (("edge-agent run", agent), ("naive paho script", naive)):
        keys = ("frames/s", "windows/s", "mixed frames/s", "mixed windows/s", "p50 ms", "p99 ms")
        rows.append((name, [row[k] for k in keys] + [row["cpu/1k frames"], row["cpu/1k windows"], row["RSS MB"]]))
    print("\n" + f"{'':32}" + "".join(f"{c:>11}" for c in (*columns, "RSS MB")))
    for name, values in rows:
        print(f"{name:32}" + "".join(f"{'':>11}" if v != v else f"{v:11.2f}" for v in values))
    print(
        f"\nagent / bare:  frames {agent['frames/s'] / f['rate']:.2f}x, windows {agent['windows/s'] / w['rate']:.2f}x",
        end="",
    )
    print(f" ({agent['windows/s'] / ws['rate']:.2f}x of bare + signature; target >= 0.85x)")
    ratio_f, ratio_w = agent["frames/s"] / naive["frames/s"], agent["windows/s"] / naive["windows/s"]
    print(f"agent / naive: frames {ratio_f:.2f}x, windows {ratio_w:.2f}x (target >= 1.0x)")
    print(f"agent p99 at 50% load ({agent['half-load frames/s']:.0f} frames/s) / bare p50: ", end="")
    print(f"{agent['p99 ms'] / f['p50']:.2f}x (target <= 3x)")
    print(f"agent CPU per 1,000 frames / bare: {agent['cpu/1k frames'] / f['cpu_1k']:.2f}x of bare saturated, ", end="")
    print(f"{agent['cpu/1k frames'] / f['cpu_1k_paced']:.2f}x of bare paced at the same rate ", end="")
    print(f"({f['cpu_1k_paced']:.2f} s; target <= 1.2x); ", end="")
    print(f"one core serves ~{1000 / agent['cpu/1k frames'] / 10:.0f} cameras at 10 fps")
    print(f"agent CPU per 1,000 windows / bare: {agent['cpu/1k windows'] / w['cpu_1k']:.2f}x, ", end="")
    print(f"/ bare + signature: {agent['cpu/1k windows'] / ws['cpu_1k']:.2f}x, ", end="")
    paced_w = w["cpu_1k_paced"]
    paced_ws = ws["cpu_1k_paced"]
    print(f"/ bare paced at the same rate: {agent['cpu/1k windows'] / paced_w:.2f}x ({paced_w:.2f} s), ", end="")
    print(f"/ bare + signature paced: {agent['cpu/1k windows'] / paced_ws:.2f}x ({paced_ws:.2f} s)")
    sf, sw = agent["sustained frames/s"], agent["sustained windows/s"]
    nf, nw = naive["sustained frames/s"], naive["sustained windows/s"]
    print("\nsustained (offered rate stepped up x1.2 until the process sheds or falls behind): ", end="")
    print(f"agent {sf:.0f} frames/s, {sw:.0f} windows/s; naive {nf:.0f} frames/s, {nw:.0f} windows/s")
    print(f"  agent / bare: frames {sf / f['rate']:.2f}x, windows {sw / w['rate']:.2f}x ", end="")
    print(f"({sw / ws['rate']:.2f}x of bare + signature); agent / naive: frames {sf / nf:.2f}x, windows {sw / nw:.2f}x")
    pub_sustained, pub_flood = agent["publisher cores, sustained frames"], agent["publisher cores, frame flood"]
    print(f"  publisher CPU while sending: {pub_sustained:.2f} cores at the agent's sustained frame rate, ", end="")
    print(f"{pub_flood:.2f} cores during the burst flood (of {os.cpu_count()})")
    under = agent["frames/s under junk"]
    print(f"agent valid frames/s while another publisher floods 3x as many malformed frames: {under:.1f} ", end="")
    print(f"({under / agent['frames/s']:.2f}x of without; target >= 0.8x; ", end="")
    print("the naive script's network thread dies on the first empty payload)")
    share = {k: v / max(load.wall_s, 1e-6) for k, v in load.cpu_s.items()}
    print(f"bench publisher / subscriber processes: {share['pub']:.0%} / {share['sub']:.0%} of a core while measuring")
    print(f"ready (broker connected, models self-tested): {ready_s:.2f} s")
    print(f"scalar tags: offered {tags[0]:.0f} msg/s, processed {tags[1]}")


if __name__ == "__main__":
    raise SystemExit(main())

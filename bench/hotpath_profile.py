"""Where the agent's CPU goes on a saturated run: py-spy samples `edge-agent run`, stacks are sorted into stages.

Prints, for frames and windows (separate agent runs; flooded at once, or at a steady rate): the share of on-CPU
samples per stage (paho/network, decode, preprocess, inference, features, signature/judge, JSON, SQLite store, outbox,
thumbnails, page tap, locks/queues, ...) and the ten hottest leaf lines. Needs py-spy (the `dev` extra).
Run: .venv/bin/python bench/hotpath_profile.py [--frames 1500 --windows 3000 --frame-rate 400 --window-rate 300]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench_models import bench_models  # noqa: E402
from load_client import ASSETS, CAMERAS, connect  # noqa: E402
from pinning import on_cpus, split_cores  # noqa: E402

from edge_agent.demo.demo import demo_config  # noqa: E402
from edge_agent.demo.devbroker import DevBroker  # noqa: E402

NS = "factory/v1/demo-plant/line-1"

# First match walking from the leaf towards the root names the stage (numpy/cv2 leaves fall through to
# the agent frame that called them).
STAGES: list[tuple[str, tuple[str, ...]]] = [
    ("inference", ("runtimes/litert.py", "runtimes/onnx.py", "interpreter.py", "onnxruntime/")),
    ("decode", ("ingest/images.py", "ingest/vibration.py", "base64.py")),
    ("preprocess", ("image_preprocess.py",)),
    ("features (FFT)", ("vibration_features.py",)),
    ("signature (FFT)", ("baseline/signature.py",)),
    ("baseline judge", ("edge_agent/baseline/",)),
    ("postprocess", ("postprocess.py",)),
    ("JSON", ("json/",)),
    ("SQLite store", ("edge_agent/store.py", "sqlalchemy/", "sqlmodel/")),
    ("outbox", ("edge_agent/outbox/",)),
    ("thumbnails", ("web/thumbnails.py",)),
    ("page tap", ("web/tap.py",)),
    ("locks/queues", ("edge_agent/queues.py", "threading.py", "concurrent/futures")),
    ("stats", ("edge_agent/stats.py",)),
    ("paho/network", ("paho/", "edge_agent/mqtt.py", "socket.py", "selectors.py")),
    ("service/worker glue", ("edge_agent/service.py", "pipelines/workers.py", "pipelines/maintenance.py",
                             "pipelines/inspection.py")),
]  # fmt: skip


# A leaf in one of these is a thread woken from a timed wait that is runnable but has no CPU yet (py-spy
# counts runnable threads as active): on a loaded 2-core machine that is scheduler wait, not work.
WAITS = ("Condition.wait", "Event.wait", "Queue.get", "select (selectors.py", "Client._loop (paho", "sleep")


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) of every thread of a process, by thread id."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[int, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        out[int(task.name)] = (int(fields[11]) + int(fields[12])) / tick
    return out


def thread_names(pid: int) -> dict[int, str]:
    """Python thread names by thread id (py-spy dump; the kernel only knows them all as "python")."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    dump = subprocess.run([spy, "dump", "--json", "--pid", str(pid)], capture_output=True, text=True, timeout=60)
    try:
        return {int(t["os_thread_id"]): str(t.get("thread_name") or "?") for t in json.loads(dump.stdout)}
    except (ValueError, KeyError, TypeError):
        return {}


def stage_of(frames: list[str]) -> str:
    """The stage a sampled stack (root first) belongs to."""
    if frames and any(frames[-1].startswith(w) for w in WAITS):
        return "woken, waiting for a CPU"
    for frame in reversed(frames):
        for stage, needles in STAGES:
            if any(needle in frame for needle in needles):
                return stage
    return "other"


def summarise(raw: Path) -> tuple[Counter[str], Counter[str], int]:
    """(samples per stage, samples per leaf line, total) from py-spy's collapsed-stack output."""
    stages: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    if not raw.exists():
        return stages, leaves, 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")[1:]  # the first entry names the process or thread
        stages[stage_of(frames)] += count
        leaves[frames[-1] if frames else "?"] += count
        total += count
    return stages, leaves, total


def agent_config(port: int, workdir: Path, workers: int = 2) -> dict[str, Any]:
    """The demo config widened to 4 cameras and 8 assets (the mixed load), 2 workers per pipeline."""
    config = demo_config(port, workdir, bench_models(), bench_models() / "keys", web_port=0)
    bearing = config["assets"][0]["bearing"]
    config["cameras"] = [{"id": c, "model": "surface-inspection"} for c in CAMERAS]
    config["assets"] = [{"id": a, "bearing": bearing, "rpm": 1780} for a in ASSETS]
    config["mqtt"]["status_interval_s"] = 1.0
    config["queues"] = {"frames": {"size": 64, "policy": "drop_oldest"}, "workers": workers, "max_batch": 32}
    return config


def spawn_client(role: str, port: int) -> subprocess.Popen[str]:
    """A bench/load_client.py process, ready."""
    process = subprocess.Popen(
        [sys.executable, str(REPO / "bench" / "load_client.py"), role, str(port), NS],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    ask_ready(process)
    return process


def ask_ready(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    json.loads(process.stdout.readline())


def ask(process: subprocess.Popen[str], **command: Any) -> dict[str, Any]:
    """Send one command to a load client and read its reply."""
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(json.dumps(command) + "\n")
    process.stdin.flush()
    reply: dict[str, Any] = json.loads(process.stdout.readline())
    return reply


def wait_online(port: int, log: Path, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Until the agent's retained status says online."""
    seen: dict[str, Any] = {}
    probe = connect(port, "bench-probe", lambda m: seen.update(json.loads(m.payload)), [f"{NS}/agent/+/status"])
    deadline = time.monotonic() + timeout
    while seen.get("state") != "online":
        if process.poll() is not None or time.monotonic() > deadline:
            probe.stop()
            raise SystemExit(log.read_text()[-3000:])
        time.sleep(0.05)
    probe.stop()


def profile(kind: str, n: int, rate: int = 250, paced: float | None = None, cpus: set[int] | None = None) -> Path:
    """py-spy attached to a ready agent while a load client floods `kind` (or publishes it at `paced` messages/s,
    n in all: a steady line instead of a spike the queues shed); returns the collapsed stacks file. With `cpus`,
    the agent runs on those cores with as many workers, the broker and the load clients on the others."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    tmp = Path(tempfile.mkdtemp(prefix="hotpath-"))
    out, gil_out = tmp / f"{kind}.txt", tmp / f"{kind}-gil.txt"
    with DevBroker(workdir=tmp) as broker:
        config = tmp / "config.yaml"
        config.write_text(yaml.safe_dump(agent_config(broker.port, tmp, len(cpus) if cpus else 2)))
        sub, pub = spawn_client("sub", broker.port), spawn_client("pub", broker.port)
        with on_cpus(cpus):
            agent = subprocess.Popen(
                [sys.executable, "-m", "edge_agent.cli", "run", "--config", str(config)],
                stdout=subprocess.DEVNULL,
                stderr=open(tmp / "agent.log", "wb"),  # noqa: SIM115
            )
        spies: list[subprocess.Popen[bytes]] = []
        try:
            wait_online(broker.port, tmp / "agent.log", agent)
            ask(sub, op="reset")
            # attached only now: start-up and imports stay out of the profile
            names = thread_names(agent.pid)
            cpu_before = thread_cpu(agent.pid)
            for path, extra in ((out, []), (gil_out, ["--gil"])):
                command = [spy, "record", "-r", str(rate), "-f", "raw", "-o", str(path), "--threads", "--nonblocking"]
                command += [*extra, "-p", str(agent.pid)]
                spies.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            time.sleep(0.5)
            sources = 4 if kind == "frame" else 8
            if paced:
                ask(pub, op="paced", kind=kind, rate=paced, seconds=n / paced, sources=sources)
            else:
                ask(pub, op="flood", kind=kind, n=n, sources=sources)
            got = ask(sub, op="wait", n=n * (2 if kind == "mixed" else 1), idle_s=1.0)
            cpu_after = thread_cpu(agent.pid)
            done = max(sum(got["counts"].values()), 1)
            rate = (done - 1) / max(got["span_s"], 1e-6)
            per_thread: dict[str, float] = {}
            for tid, seconds in cpu_after.items():
                name = names.get(tid, "native (runtime pools)").split("-edge-agent")[0]
                name = name.rstrip("-0123456789") or name
                per_thread[name] = per_thread.get(name, 0.0) + seconds - cpu_before.get(tid, 0.0)
            offered = f"{n} offered at {paced:.0f}/s" if paced else f"{n} offered at once"
            lines = [f"{kind}: {offered}, {done} results at {rate:.0f}/s; agent CPU per thread, ms per result:"]
            ranked = sorted(per_thread.items(), key=lambda kv: -kv[1])
            lines += [f"  {name:28}{cpu_s * 1000 / done:8.2f}" for name, cpu_s in ranked if cpu_s]
            lines.append(f"  {'total':28}{sum(per_thread.values()) * 1000 / done:8.2f}")
            (tmp / f"{kind}-threads.txt").write_text("\n".join(lines))
        finally:
            for spy_process in spies:
                spy_process.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            for spy_process in spies:
                spy_process.wait(60)
            for child in (pub, sub):
                child.terminate()
            agent.terminate()
            agent.wait(60)
    return out


def report(kind: str, raw: Path, top: int = 10) -> list[str]:
    """Table lines: share of samples per stage (on-CPU and holding the GIL), then the hottest leaf lines."""
    stages, leaves, total = summarise(raw)
    gil, _, gil_total = summarise(raw.with_name(raw.stem + "-gil.txt"))
    total, gil_total = max(total, 1), max(gil_total, 1)
    threads = raw.with_name(f"{kind}-threads.txt")
    lines = threads.read_text().splitlines() if threads.exists() else []
    lines.append(f"{kind}: {total} samples on CPU, {gil_total} holding the GIL")
    lines.append(f"  {'stage':28}{'on CPU':>8}{'GIL':>8}")
    lines += [f"  {name:28}{count / total:8.1%}{gil[name] / gil_total:8.1%}" for name, count in stages.most_common()]
    lines.append(f"  top {top} lines (on CPU):")
    lines += [f"  {count / total:6.1%}  {leaf[:110]}" for leaf, count in leaves.most_common(top)]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=4000)
    parser.add_argument("--windows", type=int, default=4000)
    parser.add_argument("--frame-rate", type=float, help="publish frames at this steady rate instead of at once")
    parser.add_argument("--window-rate", type=float, help="publish windows at this steady rate instead of at once")
    parser.add_argument("--pin", type=int, default=0, metavar="N", help="the agent on the last N cores, N workers")
    args = parser.parse_args()
    cpus: set[int] | None = None
    if args.pin:
        cpus, rest = split_cores(args.pin)
        os.sched_setaffinity(0, rest)  # the broker and the load clients inherit the other cores
    for kind, n, paced in (("frame", args.frames, args.frame_rate), ("window", args.windows, args.window_rate)):
        print("\n".join(report(kind, profile(kind, n, paced=paced, cpus=cpus))), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

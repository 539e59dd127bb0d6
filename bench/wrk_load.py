"""wrk as a cheap closed-loop load generator for cloud-sync: a Lua script cycling 1,000 device tokens, and CPU meters.

The script is written from Python (the devices' paths, tokens and ETags, record templates); wrk's LuaJIT builds
every request itself (new seqs and timestamps, so nothing is a replay), counts statuses per thread and prints one
JSON line when done. Kinds: poll200, poll304, report, batch, mix (see MIX).
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

log = logging.getLogger(__name__)

KINDS = ("poll200", "poll304", "report", "batch", "mix")
# The steady fleet of bench/fleet.py by request count (poll every 30 s, a batch every 200 s, rollout reports):
# of every 100 requests 80 polls answered 304, 5 answered 200, 3 reports, 12 batches of 200 records.
MIX = ["poll304"] * 80 + ["poll200"] * 5 + ["report"] * 3 + ["batch"] * 12
random.Random(1).shuffle(MIX)  # interleaved, not 80 polls then 12 batches

LUA = r"""
-- written by bench/wrk_load.py: closed-loop cloud-sync requests, one JSON line of results from done()
local devices = %(devices)s
local offered = %(offered)s
local templates = %(templates)s
local samples = %(samples)s
local pattern = %(pattern)s
local model, version, rollout = %(model)s, %(version)s, %(rollout)d
local records = %(records)d
local threads, next_tid = {}, 0
local nthreads, kind, base, base_s, counter, per_connection, closing = 1, "mix", 0, "0", 0, 0, false
tid, statuses = 0, {}  -- globals: setup() sets tid, done() reads statuses through thread:get

function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
  table.insert(threads, thread)
end

function init(args)
  kind, base, nthreads, per_connection = args[1], tonumber(args[2]), tonumber(args[3]), tonumber(args[4])
  base_s = string.format("%%.0f", base)
  math.randomseed(tid + 1)
end

-- every per_connection-th request asks the server to close its connection and wrk opens a new one, which the
-- least busy worker tends to accept: long-lived connections stay where they were first accepted
local function h(t)
  if closing then t["Connection"] = "close" end
  return t
end

local function batch(slot, d)
  local parts, first = {}, (base + slot) * 256
  for i = 1, records do
    local roll = math.random()
    local seq = string.format("%%.0f", first + i)
    if roll < 0.02 then
      parts[i] = string.format(samples[math.random(#samples)], seq, base_s)
    else
      local t = roll < 0.80 and 1 or (roll < 0.82 and 2 or 3)
      parts[i] = string.format(templates[t], seq, base_s)
    end
  end
  local body = '{"records":[' .. table.concat(parts, ",") .. ']}'
  return wrk.format("POST", d[1] .. "/batches", h({Authorization = d[2], ["Content-Type"] = "application/json"}), body)
end

function request()
  counter = counter + 1
  closing = per_connection > 0 and counter %% per_connection == 0
  local slot = counter * nthreads + tid
  local k = kind
  if k == "mix" then k = pattern[(counter - 1) %% #pattern + 1] end
  local d = devices[slot %% #devices + 1]
  if k == "poll304" then
    return wrk.format("GET", d[1] .. "/desired", h({Authorization = d[2], ["If-None-Match"] = d[3]}))
  elseif k == "poll200" then
    return wrk.format("GET", d[1] .. "/desired", h({Authorization = d[2]}))
  elseif k == "report" then
    local o = devices[offered[slot %% #offered + 1]]
    local body = string.format(
      '{"name":"%%s","version":"%%s","state":"downloading","ts_ms":%%.0f,"rollout_id":%%d}',
      model, version, base + slot, rollout)
    return wrk.format("POST", o[1] .. "/report", h({Authorization = o[2], ["Content-Type"] = "application/json"}), body)
  end
  return batch(slot, d)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do total[tostring(status)] = (total[tostring(status)] or 0) + n end
  end
  local parts = {}
  for status, n in pairs(total) do table.insert(parts, string.format('"%%s":%%d', status, n)) end
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests":%%d,"duration_us":%%d,"p50_us":%%d,"p99_us":%%d,"errors":{"connect":%%d,"read":%%d,' ..
    '"write":%%d,"status":%%d,"timeout":%%d},"statuses":{%%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout, table.concat(parts, ",")))
end
"""


def _lua(value: Any) -> str:
    """A Python string, number or (nested) list as a Lua literal."""
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid Lua escapes for ASCII text
    if isinstance(value, int | float):
        return repr(value)
    return "{" + ",".join(_lua(item) for item in value) + "}"


def write_script(
    path: Path,
    devices: list[tuple[str, str, str]],
    offered: list[int],
    templates: list[str],
    samples: list[str],
    rollout: tuple[str, str, int],
    records: int = 200,
) -> Path:
    """The Lua script: devices as (path prefix, Authorization value, ETag); templates with %s for seq and ts_ms."""
    model, version, rollout_id = rollout
    values = {
        "devices": _lua([list(device) for device in devices]),
        "offered": _lua([index + 1 for index in offered]),
        "templates": _lua(templates),
        "samples": _lua(samples),
        "pattern": _lua(MIX),
        "model": _lua(model),
        "version": _lua(version),
        "rollout": rollout_id,
        "records": records,
    }
    path.write_text(LUA % values)
    return path


def record_template(record: dict[str, Any]) -> str:
    """A record as compact JSON with %s where seq and ts_ms go (Lua's string.format)."""
    text = json.dumps({**record, "seq": -111, "ts_ms": -222}, separators=(",", ":"))
    return text.replace("%", "%%").replace("-111", "%s", 1).replace("-222", "%s", 1)


@dataclass
class WrkResult:
    """What one wrk run reported, with its own CPU seconds."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: dict[str, int]
    statuses: dict[str, int]
    cpu_s: float

    @property
    def rate(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds if self.seconds else 0.0


def run_wrk(
    script: Path,
    url: str,
    kind: str,
    base: int,
    seconds: float,
    connections: int,
    threads: int = 1,
    per_connection: int = 0,
) -> WrkResult:
    """One closed-loop wrk run; its CPU from wait4's rusage (wrk is this process's child). With per_connection > 0,
    one request in per_connection asks the server to close (a connection then carries per_connection requests on
    average, as gateways that reconnect or a load balancer's keepalive_requests make it)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk not found: `make bench-deps` (Debian package wrk)")
    command = [wrk, "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s", "--timeout", "60s"]
    command += ["-s", str(script), url, "--", kind, str(base), str(threads), str(per_connection)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    out, err = process.stdout.read().decode(), process.stderr.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    line = next((text for text in out.splitlines() if text.startswith("RESULT ")), None)
    if process.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({process.returncode}): {err[-2000:]}{out[-2000:]}")
    found = json.loads(line.removeprefix("RESULT "))
    return WrkResult(
        requests=found["requests"],
        seconds=found["duration_us"] / 1e6,
        p50_ms=found["p50_us"] / 1000,
        p99_ms=found["p99_us"] / 1000,
        errors={name: count for name, count in found["errors"].items() if count},
        statuses=found["statuses"],
        cpu_s=usage.ru_utime + usage.ru_stime,
    )


def _tree_cpu(pid: int) -> tuple[float, dict[int, float]]:
    """CPU seconds of a process tree (exited children through the root's totals), and per direct child."""
    root = psutil.Process(pid)
    reaped = root.cpu_times()
    total = reaped.user + reaped.system + reaped.children_user + reaped.children_system
    children: dict[int, float] = {}
    for child in root.children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.Error:
            continue
        children[child.pid] = times.user + times.system
        total += children[child.pid]
    return total, children


@dataclass
class CpuSnapshot:
    """CPU seconds so far: per group, per replica worker, the whole machine's busy time, and the wall clock."""

    groups: dict[str, float]
    workers: dict[int, float]
    machine_busy: float
    steal: float
    wall: float = field(default_factory=time.monotonic)


def snapshot(replica_pid: int, postmaster_pid: int) -> CpuSnapshot:
    """CPU used so far by the replica (master + workers), PostgreSQL (postmaster + backends), and this process."""
    replica, workers = _tree_cpu(replica_pid)
    postgres, _ = _tree_cpu(postmaster_pid)
    own = psutil.Process().cpu_times()
    machine = psutil.cpu_times()
    busy = machine.user + machine.nice + machine.system + machine.irq + machine.softirq
    return CpuSnapshot(
        {"replica": replica, "postgres": postgres, "bench": own.user + own.system},
        workers,
        busy,
        getattr(machine, "steal", 0.0),
    )


def _busy_cores(seconds: float) -> float:
    """Cores the whole machine kept busy over the next seconds."""
    before = psutil.cpu_times()
    time.sleep(seconds)
    after = psutil.cpu_times()
    fields = ("user", "nice", "system", "irq", "softirq")
    return sum(getattr(after, name) - getattr(before, name) for name in fields) / seconds


def wait_quiet(
    threshold: float, max_wait_s: float, idle_wait_s: float, idle_cores: float = 0.15
) -> tuple[float, float]:
    """Wait until nothing else runs (the machine busy < idle_cores over 3 s: the bench's own processes are idle
    between runs) and the 1-minute load average is below threshold; after max_wait_s only for the former, at most
    idle_wait_s more. (load average, seconds waited)."""
    started = time.monotonic()
    while time.monotonic() - started < max_wait_s + idle_wait_s:
        quiet_enough = os.getloadavg()[0] < threshold or time.monotonic() - started >= max_wait_s
        if quiet_enough and _busy_cores(3.0) < idle_cores:
            break
        time.sleep(2)
    return os.getloadavg()[0], time.monotonic() - started

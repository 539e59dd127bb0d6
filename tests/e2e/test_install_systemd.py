"""Given systemd booted as PID 1 in namespaces over an overlay of /, `make install` serves, restarts and uninstalls."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from edge_agent.demo.demo import demo_config
from edge_agent.demo.devbroker import DevBroker

REPO = Path(__file__).resolve().parents[2]
SRC_INSIDE = "/srv/edge-agent-src"  # where the namespace sees the repository
SYSTEMD = Path("/lib/systemd/systemd")
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
UNIT = "edge-agent.service"
CGROUP_PREFIX = "edge-install-test-"
# What nspawn keeps, less what would reach the host through the shared network namespace (NET_ADMIN is
# not kept either): no module loading, clock, raw I/O, kernel log or audit. The agent's own sandboxing
# (namespaces, seccomp, user switch) needs SYS_ADMIN, SETUID/SETGID and SETPCAP.
CAPABILITIES = [
    "chown",
    "dac_override",
    "dac_read_search",
    "fowner",
    "fsetid",
    "ipc_owner",
    "kill",
    "lease",
    "linux_immutable",
    "mknod",
    "net_bind_service",
    "net_broadcast",
    "net_raw",
    "setfcap",
    "setgid",
    "setpcap",
    "setuid",
    "sys_admin",
    "sys_boot",
    "sys_chroot",
    "sys_nice",
    "sys_ptrace",
    "sys_resource",
    "sys_tty_config",
    "audit_write",
]

# PID 1 of the new namespaces until it execs systemd. $1 scratch dir (host fs), $2 the repository.
BOOT = r"""
set -euo pipefail
scratch=$1 repo=$2 root=$1/root
# Every write of the install (apt, /opt, /etc, /var, users) lands in a tmpfs that dies with the namespace.
mount -t tmpfs -o mode=0755 tmpfs "$scratch/layers"
mkdir "$scratch/layers/root-upper" "$scratch/layers/root-work" "$scratch/layers/repo-upper" "$scratch/layers/repo-work"
mount -t overlay overlay -o "lowerdir=/,upperdir=$scratch/layers/root-upper,workdir=$scratch/layers/root-work" "$root"
# The overlay of / does not reach into other filesystems, and the clone may live on one (pip builds in-tree).
# It goes to a fixed path: where the clone lives (CI: maybe under /tmp) may be covered by the mounts below.
mkdir -p "$root/srv/edge-agent-src"
mount -t overlay overlay -o "lowerdir=$repo,upperdir=$scratch/layers/repo-upper,workdir=$scratch/layers/repo-work" \
    "$root/srv/edge-agent-src"
mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
# Read-only, as in nspawn: systemd-sysctl and systemd-binfmt then skip instead of setting the host kernel's knobs.
for entry in sys sysrq-trigger; do
    [ -e "$root/proc/$entry" ] || continue
    mount --bind "$root/proc/$entry" "$root/proc/$entry"
    mount -o remount,bind,ro "$root/proc/$entry"
done
# Read-only /sys keeps udev (ConditionPathIsReadWrite=/sys) from re-triggering the host's devices.
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys"
# A cgroup2 of our own: the cgroup namespace makes the test's cgroup its root, so systemd sees a pure
# unified hierarchy it may manage whatever the host's layout (this VM's is hybrid).
mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$root/sys/fs/cgroup"
mount -t tmpfs -o mode=0755,nosuid tmpfs "$root/dev"
for node in null zero full random urandom tty; do
    touch "$root/dev/$node"
    mount --bind "/dev/$node" "$root/dev/$node"
done
mkdir "$root/dev/pts" "$root/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$root/dev/pts"
ln -s pts/ptmx "$root/dev/ptmx"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$root/dev/shm"
# systemd in a container logs to the journal, not here; it only has to exist
touch "$root/dev/console"
mount --bind /dev/null "$root/dev/console"
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$root/run"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$root/tmp"
units=$root/etc/systemd/system
mkdir -p "$units"
# Boot this instead of multi-user.target, whose wants (mosquitto, postgresql) would bind the host's ports.
printf '[Unit]\nDescription=edge-agent install test\n' >"$units/edge-install-test.target"
# They would write kernel-global state; the read-only /proc/sys and the dropped capabilities stop them too.
for unit in systemd-sysctl.service systemd-modules-load.service systemd-binfmt.service; do
    ln -sf /dev/null "$units/$unit"
done
mkdir -p "$root/.oldroot"
cd "$root"
pivot_root . .oldroot
umount -l /.oldroot
rmdir /.oldroot
exec env -i container=edge-install-test PATH="$3" \
    setpriv --bounding-set "$4" /lib/systemd/systemd --unit=edge-install-test.target --show-status=no
"""


def _cgroup2_mount() -> Path | None:
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        separator = fields.index("-")
        if fields[separator + 1] == "cgroup2":
            return Path(fields[4])
    return None


def _remove_cgroup(path: Path, timeout: float = 10.0) -> None:
    """rmdir a cgroup tree bottom-up, waiting for the killed processes in it to be reaped."""
    deadline = time.monotonic() + timeout
    while path.exists():
        try:
            for directory in sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                directory.rmdir()
            path.rmdir()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _skip_unless_runnable() -> Path:
    """The cgroup2 mount to nest under; skips only where this machine cannot boot systemd at all."""
    if os.geteuid() != 0:
        pytest.skip("needs root: overlay mounts, namespaces and systemd as PID 1")
    missing = [tool for tool in ("unshare", "nsenter", "setpriv", "make") if shutil.which(tool) is None]
    if missing or not SYSTEMD.exists():
        pytest.skip(f"missing {missing or [str(SYSTEMD)]} (Debian packages util-linux, make, systemd)")
    cgroup2 = _cgroup2_mount()
    if cgroup2 is None:
        pytest.skip("no cgroup2 hierarchy mounted: systemd 252 needs one it can delegate from")
    probe = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount", "--uts", "--ipc", "--cgroup", "true"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        pytest.skip(f"cannot create namespaces here (an unprivileged container?): {probe.stderr.strip()}")
    return cgroup2


class BootedSystemd:
    """A systemd PID 1 in its own namespaces; commands run inside through nsenter."""

    def __init__(self, pid1: int) -> None:
        self.pid1 = pid1
        self.root = Path(f"/proc/{pid1}/root")  # its / seen from the host, for files without symlinks in the path

    def run(
        self, *argv: str, env: dict[str, str] | None = None, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        environment = {"PATH": PATH, "HOME": "/root", "LANG": "C.UTF-8", **(env or {})}
        return subprocess.run(
            ["nsenter", f"--target={self.pid1}", "--mount", "--pid", "--uts", "--ipc", "--cgroup", "--", "env", "-i"]
            + [f"{key}={value}" for key, value in environment.items()]
            + list(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def show(self, *properties: str) -> dict[str, str]:
        result = self.run("systemctl", "show", UNIT, "-p", ",".join(properties))
        assert result.returncode == 0, result.stderr
        return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)

    def diagnosis(self) -> str:
        status = self.run("systemctl", "--no-pager", "--lines=0", "status", UNIT).stdout
        journal = self.run("journalctl", "--no-pager", "--boot", "--lines=80").stdout
        return f"\n--- systemctl status\n{status}\n--- journal\n{journal}"

    def wait_booted(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            if (self.root / "run/systemd/private").exists():
                state = self.run("systemctl", "is-system-running", "--wait", timeout=timeout).stdout.strip()
                if state in ("running", "degraded"):
                    failed = self.run("systemctl", "--failed", "--no-legend", "--plain").stdout
                    assert state == "running", f"boot degraded, failed units:\n{failed}"
                    return
            time.sleep(0.1)
        raise AssertionError(f"systemd did not finish booting (state {state!r}){self.diagnosis()}")


@pytest.fixture
def booted() -> Iterator[BootedSystemd]:
    """systemd booted in fresh pid/mount/uts/ipc/cgroup namespaces over a throwaway overlay of /."""
    cgroup2 = _skip_unless_runnable()
    # A run killed outright (pytest-timeout's os._exit, SIGKILL) took its namespace with it through the
    # parent-death signals below but left an empty cgroup and scratch dir (nothing mounted on the host): drop them.
    for stale in cgroup2.glob(f"{CGROUP_PREFIX}*"):
        if not (stale / "cgroup.procs").read_text().strip():
            _remove_cgroup(stale)
            shutil.rmtree(Path(tempfile.gettempdir()) / stale.name, ignore_errors=True)
    name = f"{CGROUP_PREFIX}{uuid.uuid4().hex[:8]}"
    scratch = Path(tempfile.gettempdir()) / name
    scratch.mkdir()
    (scratch / "layers").mkdir()
    (scratch / "root").mkdir()
    cgroup = cgroup2 / name
    cgroup.mkdir()
    bounding = "-all," + ",".join(f"+{cap}" for cap in CAPABILITIES)
    # setpriv --pdeathsig and unshare --kill-child: if pytest dies, unshare dies, and with it the namespace.
    launcher = subprocess.Popen(
        [
            "sh",
            "-c",
            'echo $$ > "$0/cgroup.procs" && exec setpriv --pdeathsig KILL -- "$@"',
            str(cgroup),
            "unshare",
            "--pid",
            "--fork",
            "--kill-child",
            "--mount",
            "--uts",
            "--ipc",
            "--cgroup",
            "--propagation=private",
            "bash",
            "-c",
            BOOT,
            "boot",
            str(scratch),
            str(REPO),
            PATH,
            bounding,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    system: BootedSystemd | None = None
    try:
        deadline = time.monotonic() + 30
        pid1 = 0
        while time.monotonic() < deadline and launcher.poll() is None:
            children = Path(f"/proc/{launcher.pid}/task/{launcher.pid}/children").read_text().split()
            if children and Path(f"/proc/{children[0]}/comm").read_text().strip() == "systemd":
                pid1 = int(children[0])
                break
            time.sleep(0.05)
        if not pid1:
            launcher.kill()
            output = launcher.communicate(timeout=10)[0]
            raise AssertionError(f"systemd did not start as PID 1 (exit {launcher.returncode}):\n{output}")
        system = BootedSystemd(pid1)
        system.wait_booted(60)
        yield system
    finally:
        if system is not None and launcher.poll() is None:
            os.kill(system.pid1, signal.SIGRTMIN + 3)  # systemd's "halt": stops the agent as a shutdown would
        try:
            launcher.wait(20)
        except subprocess.TimeoutExpired:
            launcher.kill()  # --kill-child SIGKILLs PID 1, and the kernel every process in the namespace
            launcher.wait(10)
        if launcher.stdout is not None:
            launcher.stdout.close()
        _remove_cgroup(cgroup)
        shutil.rmtree(scratch, ignore_errors=True)


def _host_paths() -> dict[str, bool]:
    paths = ("/opt/edge-agent", "/etc/edge-agent", "/var/lib/edge-agent", "/etc/systemd/system/edge-agent.service")
    return {path: os.path.lexists(path) for path in paths}


def _make(system: BootedSystemd, *target: str, timeout: float = 150) -> str:
    result = system.run("make", "-C", SRC_INSIDE, *target, env={"TRUST_DEV_KEY": "1"}, timeout=timeout)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"make {' '.join(target)} failed:\n{output[-4000:]}{system.diagnosis()}"
    return output


def _assert_serving(system: BootedSystemd, previous_pid: str | None = None) -> dict[str, str]:
    state = system.show("ActiveState", "SubState", "StatusText", "MainPID", "NRestarts", "WatchdogUSec")
    context = f"{state}{system.diagnosis()}"
    # Type=notify: "active" only after READY=1, which the agent sends once it is connected to the broker
    assert (state["ActiveState"], state["SubState"]) == ("active", "running"), context
    assert state["StatusText"] == "serving 3 models", context
    assert state["NRestarts"] == "0", f"the service crashed and was restarted: {context}"
    assert state["MainPID"] != "0" and state["MainPID"] != previous_pid, context
    return state


def _assert_watchdog_pinged(system: BootedSystemd) -> None:
    first = int(system.show("WatchdogTimestampMonotonic")["WatchdogTimestampMonotonic"])
    deadline = time.monotonic() + 12  # the agent pings every min(WatchdogSec / 2, 5 s)
    while time.monotonic() < deadline:
        latest = int(system.show("WatchdogTimestampMonotonic")["WatchdogTimestampMonotonic"])
        if latest > first > 0:
            return
        time.sleep(0.5)
    raise AssertionError(f"no WATCHDOG=1 reached systemd in 12 s{system.diagnosis()}")


def test_make_install_runs_the_hardened_service_under_real_systemd_and_make_uninstall_removes_it(
    booted: BootedSystemd, broker: DevBroker
) -> None:
    # Given: a gateway whose operator already wrote a config (pointing at the test's broker, which the
    # shared network namespace reaches on loopback) and a booted systemd without edge-agent
    host_before = _host_paths()
    config = demo_config(
        broker.port,
        Path("/var/lib/edge-agent"),
        Path("/var/lib/edge-agent/models"),
        Path("/etc/edge-agent/trusted-keys"),
        web_port=0,
    )
    config_text = yaml.safe_dump(config)
    (booted.root / "etc/edge-agent").mkdir(parents=True)
    (booted.root / "etc/edge-agent/config.yaml").write_text(config_text)
    assert booted.show("LoadState")["LoadState"] == "not-found"

    # When: make install (apt, venv, pip from the registry, the dev key's packages, enable + start)
    _make(booted, "install")

    # Then: the agent sent READY under the shipped sandbox, the watchdog is armed and pinged, it starts at boot
    serving = _assert_serving(booted)
    assert booted.show("WatchdogUSec")["WatchdogUSec"] == "30s"
    _assert_watchdog_pinged(booted)
    assert booted.run("systemctl", "is-enabled", UNIT).stdout.strip() == "enabled"
    owner = booted.run("ps", "-o", "user=", "-p", serving["MainPID"]).stdout.strip()
    assert owner == "edge-agent", owner
    assert (booted.root / "etc/edge-agent/config.yaml").read_text() == config_text, "install replaced the config"

    # When: an operator restarts it
    restart = booted.run("systemctl", "restart", UNIT, timeout=60)
    # Then: a new process reaches READY again
    assert restart.returncode == 0, restart.stderr + booted.diagnosis()
    restarted = _assert_serving(booted, previous_pid=serving["MainPID"])

    # When: make install runs again (an upgrade)
    _make(booted, "install")
    # Then: the agent is restarted onto the new code and the operator's config is kept
    _assert_serving(booted, previous_pid=restarted["MainPID"])
    assert (booted.root / "etc/edge-agent/config.yaml").read_text() == config_text, "re-install replaced the config"

    # When: make uninstall, twice (the second finds nothing to do)
    _make(booted, "uninstall", timeout=60)
    _make(booted, "uninstall", timeout=60)
    # Then: no unit, no enablement, no venv, no agent process; config, state and the user stay
    gone = booted.show("LoadState", "ActiveState")
    assert gone == {"LoadState": "not-found", "ActiveState": "inactive"}, gone
    assert booted.run("systemctl", "list-unit-files", "--no-legend", UNIT).stdout.strip() == ""
    assert not (booted.root / "etc/systemd/system/edge-agent.service").exists()
    assert not (booted.root / "etc/systemd/system/multi-user.target.wants/edge-agent.service").is_symlink()
    assert not (booted.root / "opt/edge-agent").exists()
    assert booted.run("pgrep", "-u", "edge-agent").returncode == 1, "an agent process outlived the uninstall"
    assert (booted.root / "etc/edge-agent/config.yaml").read_text() == config_text
    assert (booted.root / "var/lib/edge-agent/agent.db").exists()
    assert booted.run("id", "edge-agent").returncode == 0

    # When: make uninstall PURGE=1
    _make(booted, "uninstall", "PURGE=1", timeout=60)
    # Then: config, state and the user are gone too
    assert not (booted.root / "etc/edge-agent").exists()
    assert not (booted.root / "var/lib/edge-agent").exists()
    assert booted.run("id", "edge-agent").returncode == 1

    # And: none of it touched the host outside the namespace's overlay
    assert _host_paths() == host_before

"""Peak resident memory (VmHWM) of a job's processes, sampled from a thread.

The kernel keeps each process's high-water mark of resident memory (VmHWM in
/proc/PID/status), so a sample taken late still sees the peak reached before
it: sampling only has to find every process and read it once more before it
exits, and the value is exact rather than whatever RSS happened to be at a
sample. A process that grows after the last sample and exits before the next
one (0.1 s) is under-reported by that growth; none of the jobs' processes
lives that briefly.

Finding the tree reads /proc/PID/task/TID/children of the processes already
known (a few files per sample, whatever else runs on the machine), falling
back to psutil's children(recursive=True), which scans every process on the
machine, where the kernel lacks those files.

Each process gets a role from its command line (client, worker w0,
mapper-0, coordinator, redis-server...); a role's peak is the largest over
its processes (a restarted mapper-0 is still mapper-0).
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from wordcount.parts import part_command

SAMPLE_S = 0.1
REDIS_NAMES = ("redis-server", "valkey-server")
HAVE_CHILDREN_FILES = os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children")


def read_hwm_kb(pid: int | str = "self") -> int | None:
    """VmHWM of one process in kB; None once it has gone (or for a kernel thread)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def reset_hwm(pid: int | str = "self") -> bool:
    """Set VmHWM back to the current RSS (Linux >= 4.0), so a long-lived process
    (this one, the benchmark's Redis) shows the peak of the next run only, not of its
    whole life. False where the kernel or permissions do not allow it."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def role_of(cmdline: list[str], name: str) -> str:
    """What a process is in a job, from its command line (the arguments its parent gave it;
    a part started through the warm-start launcher is read as if started directly)."""
    def after(flag: str) -> str | None:
        return cmdline[cmdline.index(flag) + 1] if flag in cmdline[:-1] else None

    base = os.path.basename(cmdline[0]) if cmdline else name
    if any(r in base or r in name for r in REDIS_NAMES):
        return "redis-server"
    if after("--name"):  # a Lab 1 worker: --name w0
        return f"worker {after('--name')}"
    if after("--id"):  # a Lab 2 worker: --id mapper-0
        return str(after("--id"))
    command = part_command(cmdline)
    # a package part runs as `-P -m coordinator` (or `-c <bootstrap> coordinator` on Python 3.10)
    if any(Path(a).name == "coordinator" or a.startswith("coordinator") for a in command[:3]):
        return "coordinator"
    script = next((a for a in command[:2] if a.endswith(".py")), None)
    return Path(script).stem if script else base


def _children(pid: int) -> list[int]:
    """Direct children of `pid`, from each of its threads' children file."""
    found: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as fh:
            found += [int(c) for c in fh.read().split()]
    return found


def tree(root: int) -> list[int]:
    """`root` and all its descendants (empty once it has gone)."""
    if not HAVE_CHILDREN_FILES:
        try:
            return [root, *(p.pid for p in psutil.Process(root).children(recursive=True))]
        except psutil.Error:
            return []
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        try:
            kids = _children(pid)
        except OSError:  # it exited meanwhile
            continue
        pids.append(pid)
        todo += kids
    return pids


@dataclass
class Seen:
    """One process image: its role and its highest VmHWM so far."""

    role: str
    kb: int


@dataclass
class PeakSampler:
    """Sample the tree below `root` (role 'client') and the `extra` pids (pid -> role) until stopped."""

    root: int
    extra: dict[int, str] = field(default_factory=dict)
    interval_s: float = SAMPLE_S
    seen: dict[tuple[int, float], Seen] = field(default_factory=dict)  # (pid, start time) -> peak
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> PeakSampler:
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> dict[str, int]:
        """Stop sampling (one last sample first) and return the peak kB per role."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()
        return self.by_role()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def sample(self) -> None:
        for pid in [*tree(self.root), *self.extra]:
            try:
                proc = psutil.Process(pid)
                key = (pid, proc.create_time())
                role = "client" if pid == self.root else self.extra.get(pid) or role_of(proc.cmdline(), proc.name())
            except psutil.Error:
                continue
            kb = read_hwm_kb(pid)
            if kb is None:
                continue
            old = self.seen.get(key)
            if old is None or old.role != role:  # new, or it exec'd since: a new image, a new peak
                self.seen[key] = Seen(role, kb)
            else:
                old.kb = max(old.kb, kb)

    def by_role(self) -> dict[str, int]:
        """Peak kB per role, largest first."""
        roles: dict[str, int] = {}
        for s in self.seen.values():
            roles[s.role] = max(roles.get(s.role, 0), s.kb)
        return dict(sorted(roles.items(), key=lambda kv: -kv[1]))

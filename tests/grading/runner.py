"""Running one client command, isolated, and cleaning up only what it started.

The client runs in its own session (so its process group is exactly the
processes it started in that group) with its output in a file (no pipe to
fill up), and dies with the grader (wordcount.procs.spawn sets PDEATHSIG).
On timeout the grader SIGTERMs the group (the client then stops its workers
and Redis itself), waits a little, then SIGKILLs the group and every
descendant it recorded. Workers die with the client anyway (PDEATHSIG), but
killing by recorded PID makes that independent of the part under test.
Nothing is ever killed by name.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import psutil

from wordcount import procs

log = logging.getLogger("grade")
TERM_GRACE_S = 3.0
# Variables that would make a client share state with whatever ran the grader.
ISOLATE_ENV = ("REDIS_URL", "WC_REDIS_URL", "WC_TRACE", "WC_TRACE_PROC", "WC_JOB_KEY", "WC_INSECURE_NO_AUTH")


@dataclass
class Finished:
    exit_code: int | None  # None: killed after the timeout
    duration_s: float
    timed_out: bool


def client_env() -> dict[str, str]:
    """The grader's environment (test tags included) minus what breaks isolation."""
    env = {k: v for k, v in os.environ.items() if k not in ISOLATE_ENV}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _descendants(proc: subprocess.Popen) -> list[psutil.Process]:
    try:
        return psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        return []


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def kill_tree(proc: subprocess.Popen, known: list[psutil.Process]) -> None:
    """SIGTERM the client's group, then SIGKILL it and every recorded descendant."""
    known = known + [p for p in _descendants(proc) if p not in known]
    _signal_group(proc.pid, signal.SIGTERM)
    try:
        proc.wait(TERM_GRACE_S)
    except subprocess.TimeoutExpired:
        pass
    _signal_group(proc.pid, signal.SIGKILL)
    for child in known:
        try:
            if child.is_running():  # same PID *and* start time: never a recycled PID
                child.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(known, timeout=5)
    proc.wait()


def run(argv: Sequence[str], cwd: Path, log_path: Path, timeout_s: float) -> Finished:
    """Run argv to completion or kill it (and everything it started) after timeout_s."""
    t0 = time.monotonic()
    proc = procs.spawn(argv, log_path=str(log_path), env=client_env(), cwd=str(cwd))
    known: list[psutil.Process] = []
    try:
        while proc.poll() is None:
            if time.monotonic() - t0 > timeout_s:
                log.warning("timeout after %.0fs: killing pid %d and its children", timeout_s, proc.pid)
                kill_tree(proc, known)
                return Finished(None, time.monotonic() - t0, True)
            known += [p for p in _descendants(proc) if p not in known]
            time.sleep(0.05)
    except BaseException:  # Ctrl-C of the grader: leave nothing behind
        kill_tree(proc, known)
        raise
    return Finished(proc.returncode, time.monotonic() - t0, False)


def quick(argv: Sequence[str], cwd: Path, timeout_s: float = 60) -> tuple[int | None, str]:
    """Run a short helper command (a preflight, the timeline renderer); (exit code, output)."""
    with tempfile.TemporaryDirectory(prefix="wc-grade-") as tmp:
        log_path = Path(tmp) / "output.log"
        try:
            done = run(argv, cwd, log_path, timeout_s)
        except OSError as exc:
            return None, str(exc)
        output = log_path.read_text(encoding="utf-8", errors="replace")
    if done.timed_out:
        return None, f"{' '.join(argv[1:3])} did not finish within {timeout_s:.0f}s; output: {output[-300:]}"
    return done.exit_code, output

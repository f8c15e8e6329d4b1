"""Starting, killing and reaping child processes without leaving orphans.

Children are started in their own session (so a terminal Ctrl-C reaches only
the parent, which then shuts them down in order) and with PR_SET_PDEATHSIG, so
the kernel SIGKILLs them if the parent itself dies without cleaning up.
PDEATHSIG fires when the *thread* that forked exits, so spawn only from a
thread that lives as long as the child should (normally the main thread).
"""
from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
from typing import IO, NoReturn, Sequence

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def spawn(
    argv: Sequence[str],
    log_path: str | None = None,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    stdout: int | IO | None = None,
) -> subprocess.Popen:
    """Start `argv` as a supervised child; stderr (and stdout) go to `log_path`."""
    out: int | IO | None = stdout
    err: int | IO | None = None
    fh = None
    if log_path:
        fh = open(log_path, "ab")
        err = fh
        if out is None:
            out = fh
    try:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=env,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    finally:
        if fh is not None:
            fh.close()


def kill(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    """Signal a child and every process in its session; ignore ones already gone."""
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass


def stop(proc: subprocess.Popen, grace: float = 2.0) -> int | None:
    """SIGTERM, wait up to `grace`, then SIGKILL; always reap."""
    if proc.poll() is None:
        kill(proc, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            kill(proc, signal.SIGKILL)
    try:
        return proc.wait(5)
    except subprocess.TimeoutExpired:  # pragma: no cover - unkillable (D state)
        log.error("process %d did not die", proc.pid)
        return None


def free_port(host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> int:
    """A port that was free a moment ago (the caller binds it right away)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def exit_now(code: int) -> NoReturn:
    """Flush logs and stdio, then exit without the interpreter's teardown.

    Tearing down a process that imported redis-py costs 0.05-0.2 s, which a
    job waiting for its workers (and a user waiting for the client) pays
    every time; nothing of ours needs it (trace events are written unbuffered,
    children are stopped in `finally` blocks before this).
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)

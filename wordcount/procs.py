"""Starting, killing and reaping child processes without leaving orphans.

Children are started in their own session (so a terminal Ctrl-C reaches only
the parent, which then shuts them down in order) and with PR_SET_PDEATHSIG, so
the kernel SIGKILLs them if the parent itself dies without cleaning up.
PDEATHSIG fires when the *thread* that forked exits, so spawn only from a
thread that lives as long as the child should (normally the main thread).

Ctrl-C during a spawn: a `preexec_fn` makes Python run its at-fork hooks
(logging registers some), and an exception raised inside a hook is printed
as "Exception ignored" and dropped. A KeyboardInterrupt whose handler runs
there was lost, and the job went on. `deferred_interrupts` holds SIGINT and
SIGTERM while a child is forked and registered, then re-raises them.
"""
from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from typing import IO, Callable, Iterable, Iterator, NoReturn, Sequence

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


INTERRUPTS = (signal.SIGINT, signal.SIGTERM)


def _die_with(parent: int) -> Callable[[], None]:
    """The child's pre-exec step: die with `parent`, also if it is already gone.

    PDEATHSIG armed after the parent died never fires (the child was already
    reparented), so check the parent pid once it is armed.
    """
    def arm() -> None:  # runs in the child between fork and exec
        if _libc is not None:
            _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
    return arm


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM for the duration of the block, then deliver them.

    Only the main thread can set signal handlers; elsewhere this is a no-op
    (signals are handled by the main thread anyway). Nested blocks pass a
    held signal outwards.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    ours = [sig for sig in INTERRUPTS if signal.getsignal(sig) is not None]  # None: a C handler, leave it
    previous = {sig: signal.signal(sig, lambda signum, frame: held.append(signum)) for sig in ours}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if held:
            signal.raise_signal(held[0])  # runs the restored handler now (KeyboardInterrupt)


def _owner_only(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)


def spawn(
    argv: Sequence[str],
    log_path: str | None = None,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    stdout: int | IO | None = None,
    stdin_data: bytes | None = None,
    keep_stdin: bool = False,
) -> subprocess.Popen:
    """Start `argv` as a supervised child; stderr (and stdout) go to `log_path`
    (created 0600). `stdin_data` is written to its stdin, which is then closed:
    the way to hand a child a secret that must not be on its command line.
    With `keep_stdin` its stdin is a pipe left open for `feed` to write later."""
    out: int | IO | None = stdout
    err: int | IO | None = None
    fh = None
    if log_path:
        fh = open(log_path, "ab", opener=_owner_only)
        err = fh
        if out is None:
            out = fh
    try:
        with deferred_interrupts():
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.PIPE if stdin_data is not None or keep_stdin else subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=env,
                cwd=cwd,
                start_new_session=True,
                preexec_fn=_die_with(os.getpid()),
            )
    finally:
        if fh is not None:
            fh.close()
    if stdin_data is not None:
        feed(proc, stdin_data)
    return proc


def feed(proc: subprocess.Popen, data: bytes, close: bool = True) -> None:
    """Write all of `data` to the child's stdin and close it (EOF ends its input),
    or only flush it (`close` False: more is to follow)."""
    if proc.stdin is None or proc.stdin.closed:
        return
    try:
        proc.stdin.write(data)
        if close:
            proc.stdin.close()
        else:
            proc.stdin.flush()
    except BrokenPipeError:  # it died at once; the caller sees that when it waits for it
        try:
            proc.stdin.close()
        except BrokenPipeError:
            pass


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


def stop_all(children: Iterable[subprocess.Popen], grace: float = 1.0) -> None:
    """Stop many children at once: SIGTERM all, one shared grace period, SIGKILL the rest.

    Stopping them one by one would cost up to `grace` per child.
    """
    live = [p for p in children if p.poll() is None]
    for proc in live:
        kill(proc, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in live:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            kill(proc, signal.SIGKILL)
    for proc in live:
        stop(proc, grace=0)


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

"""The one way the test suite, the grader and the benchmark run a job as a subprocess.

A command (`python client.py ...`, `python tests/grade.py ...`) starts in its
own session, so its process group is exactly what it started in that group
and a Ctrl-C at the terminal reaches only the caller, with its output in
files (no pipe to fill up and block it) and PR_SET_PDEATHSIG set
(wordcount.procs.spawn), so it dies with the caller. While it runs, every
descendant is recorded. If it outlives its timeout (or the caller is
interrupted), its group gets SIGTERM (the client then stops its workers and
Redis itself), a grace period, then SIGKILL for the group and every recorded
descendant. Workers die with the client anyway (PDEATHSIG); killing by
recorded PID makes that independent of the part under test. Nothing is ever
killed by name.
"""
from __future__ import annotations

import logging
import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import psutil

from wordcount import procs

log = logging.getLogger(__name__)
TERM_GRACE_S = 3.0
WATCH_S = 0.05  # how often descendants are recorded while the job runs
# Set by a caller that runs jobs from several threads (the grader's side-by-side items) when it is
# interrupted: every Job.wait in progress stops its command, as a Ctrl-C does in the main thread.
CANCEL = threading.Event()
# The lines in which the client (or a tool) says what went wrong; "python: error:" style prefixes too.
_ERROR_LINE = re.compile(r"^(?:[\w./-]+: )?(?:error|job failed):|^interrupted")


def last_error_line(output: str, exit_code: int | None = None) -> str:
    """The line of `output` that says what went wrong.

    An uncaught exception: its exception line (the first unindented line after
    the last "Traceback"). Otherwise the last line that starts with "error:"
    or "job failed:" (the client's one-line errors, also after a "prog:"
    prefix) or "interrupted", else the last line, else the exit status.
    """
    lines = [ln.rstrip() for ln in output.splitlines() if ln.strip()]
    tracebacks = [i for i, ln in enumerate(lines) if ln.startswith("Traceback")]
    if tracebacks:
        after = [ln for ln in lines[tracebacks[-1] + 1:] if not ln[:1].isspace()]
        if after:
            return after[0]
    errors = [ln.strip() for ln in lines if _ERROR_LINE.match(ln.strip())]
    if errors:
        return errors[-1]
    return lines[-1].strip() if lines else f"exit status {exit_code}"


@dataclass
class Finished:
    """How a command ended. With one output file, `stdout` holds both streams and `stderr` is ""."""

    argv: list[str]
    exit_code: int | None  # None: killed after the timeout
    duration_s: float
    timed_out: bool
    stdout: str
    stderr: str
    stopped: list[str] = field(default_factory=list)  # what was still running when it was stopped
    cpu_s: float | None = None  # CPU time (user + system) of the command and every descendant it reaped

    @property
    def last_error(self) -> str:
        return last_error_line(self.stderr or self.stdout, self.exit_code)

    @property
    def returncode(self) -> int | None:  # the name subprocess uses, for assertion messages alike
        return self.exit_code


class Job:
    """One started command: signal it, poll it, then `wait` for it exactly once."""

    def __init__(self, argv: Sequence[str], *, cwd: str | os.PathLike | None = None,
                 env: Mapping[str, str] | None = None, output: str | os.PathLike | None = None,
                 errors: str | os.PathLike | None = None, watch_s: float = WATCH_S) -> None:
        """Start `argv`. Output goes to `output` (both streams), or to `output` and `errors`;
        with neither, to two files in a private temporary directory removed by `wait`."""
        self.argv = [str(a) for a in argv]
        self.watch_s = watch_s
        self._tmp = tempfile.mkdtemp(prefix="wc-job-") if output is None else None
        self.out_path = Path(output) if output is not None else Path(self._tmp or "") / "stdout"
        self.err_path = Path(errors) if errors is not None else (Path(self._tmp) / "stderr" if self._tmp else None)
        self.known: list[psutil.Process] = []
        self.stopped: list[str] = []
        self.t0 = time.perf_counter()
        self._pidfd: int | None = None
        self.cpu_s: float | None = None
        try:
            with open(self.out_path, "ab") as out:
                self.proc = procs.spawn(self.argv, log_path=str(self.err_path or self.out_path),
                                        env=dict(env) if env is not None else None,
                                        cwd=str(cwd) if cwd is not None else None, stdout=out)
        except OSError:  # no such program or directory: nothing started, nothing to keep
            self._close()
            raise
        self._pidfd = _pidfd(self.proc.pid)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    def poll(self) -> int | None:
        return self.proc.poll()

    def send_signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def kill(self) -> None:
        self.proc.kill()

    def wait(self, timeout_s: float, term_grace_s: float = TERM_GRACE_S) -> Finished:
        """Wait for the command; `timeout_s` from now, stop it and everything it started."""
        timed_out = False
        deadline = time.perf_counter() + timeout_s
        try:
            while not self._exited_within(min(self.watch_s, max(0.0, deadline - time.perf_counter()))):
                if CANCEL.is_set():
                    raise KeyboardInterrupt
                self._record_descendants()
                if time.perf_counter() > deadline:
                    timed_out = True
                    log.warning("%s did not finish within %.0fs: stopping pid %d and everything it started",
                                " ".join(self.argv[1:3]), timeout_s, self.proc.pid)
                    self.stop(term_grace_s)
                    break
        except BaseException:  # Ctrl-C of the caller: the job is in its own session and did not get it
            self.stop(term_grace_s)
            self._close()
            raise
        duration = time.perf_counter() - self.t0
        stdout, stderr = self._read(self.out_path), self._read(self.err_path) if self.err_path else ""
        self._close()
        return Finished(self.argv, None if timed_out else self.proc.returncode, duration, timed_out, stdout, stderr,
                        self.stopped, None if timed_out else self.cpu_s)

    def stop(self, term_grace_s: float = TERM_GRACE_S) -> None:
        """SIGTERM the group, wait `term_grace_s`, then SIGKILL the group and every recorded descendant."""
        self._record_descendants()
        self.stopped = [_describe(p) for p in [*self._root(), *self.known] if _alive(p)]
        procs.kill(self.proc, signal.SIGTERM)
        try:
            self.proc.wait(term_grace_s)
        except subprocess.TimeoutExpired:
            pass
        procs.kill(self.proc, signal.SIGKILL)
        for child in self.known:
            try:
                if child.is_running():  # same PID *and* start time: never a recycled PID
                    child.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(self.known, timeout=5)
        self.proc.wait()

    def _root(self) -> list[psutil.Process]:
        """The command's own process, while it has not been reaped."""
        try:
            return [psutil.Process(self.proc.pid)] if self.proc.returncode is None else []
        except psutil.Error:
            return []

    def _record_descendants(self) -> None:
        for root in self._root():
            try:
                children = root.children(recursive=True)
            except psutil.Error:
                return
            self.known += [p for p in children if p not in self.known]

    def _reaped(self) -> bool:
        """Reap the command if it has exited, with wait4 rather than Popen.poll: its
        resource usage then holds its own CPU time plus that of every descendant it
        waited for (the client reaps its workers and its Redis), which the grader's
        CPU budgets use. Popen learns the exit status as if it had reaped it."""
        if self.proc.returncode is not None:
            return True
        try:
            pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
        except ChildProcessError:  # reaped elsewhere: the status is Popen's to tell, the usage is lost
            return self.proc.poll() is not None
        if pid == 0:
            return False
        self.cpu_s = usage.ru_utime + usage.ru_stime
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        return True

    def _exited_within(self, seconds: float) -> bool:
        """Wait up to `seconds` for the exit; wakes at once when it happens (a pidfd, on Linux),
        so a timed run is not longer by a polling interval."""
        if self._reaped():
            return True
        if self._pidfd is not None:
            select.select([self._pidfd], [], [], seconds)
            return self._reaped()
        try:
            self.proc.wait(seconds)
        except subprocess.TimeoutExpired:
            return False
        return True

    @staticmethod
    def _read(path: Path) -> str:
        try:
            return path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def _close(self) -> None:
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _describe(p: psutil.Process) -> str:
    try:
        return f"pid {p.pid}: {' '.join(p.cmdline()) or p.name()}"
    except psutil.Error:
        return f"pid {p.pid}"


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)  # type: ignore[attr-defined]  # Linux >= 5.3
    except (AttributeError, OSError):
        return None


def run(argv: Sequence[str], timeout_s: float, *, cwd: str | os.PathLike | None = None,
        env: Mapping[str, str] | None = None, output: str | os.PathLike | None = None,
        errors: str | os.PathLike | None = None, watch_s: float = WATCH_S,
        term_grace_s: float = TERM_GRACE_S) -> Finished:
    """Run `argv` to completion, or stop it (and everything it started) after `timeout_s`."""
    return Job(argv, cwd=cwd, env=env, output=output, errors=errors, watch_s=watch_s).wait(timeout_s, term_grace_s)

"""Structured events of one run, one JSON line each, for timelines and grading.

Every process of a run appends to the same file, so what happened in which
order, across processes, can be read back after the fact (and drawn by
``python -m wordcount.timeline``). A line looks like

    {"t": 81234.567891, "pid": 4242, "proc": "w0", "ev": "commit", "ids": ["1-0"]}

* ``t`` is ``time.monotonic()``: CLOCK_MONOTONIC is one clock for the whole
  machine on Linux, so lines of different processes compare directly, and a
  wall-clock step (NTP) cannot reorder them.
* ``proc`` is the process label (``client``, ``w0``, ``coordinator``,
  ``mapper-0``...). A restarted process keeps its label and gets a new ``pid``.
* An event *about another process* (its start, its kill, its exit as seen by
  the supervisor) carries ``target`` (that process's label) and ``target_pid``;
  the timeline draws it in the target's lane. This is the only convention for
  that: use ``target``, not ``worker`` or ``name``.

Where the file is: the parent calls ``setup(path, label)`` and passes
``child_env(label)`` into each child's environment (``WC_TRACE`` = path,
``WC_TRACE_PROC`` = label); a child needs no call at all, ``event()`` reads
those variables the first time. Without ``WC_TRACE``, ``event()`` is a no-op
that costs one attribute check.

Why it is safe to call anywhere: each line is one ``os.write`` on an
``O_APPEND`` descriptor, which Linux never interleaves with other appenders;
lines are kept under ``MAX_LINE`` bytes; nothing is buffered, so a crash loses
no event already reported; and ``event()`` never raises (a failure to write
is logged once and tracing turns itself off). ``read_trace`` skips a line a
dying process may have left half-written.

Vocabulary (event name: fields; who emits it). Names are the constants below.

Both labs
    run_start: job, lab, workers, files, wall      client / coordinator, once
    run_end                                         client / coordinator, last (after
                                                    job_done if the job succeeded)
    start: (consumer, ...)                          every process, itself, first thing
    exit: code                                      a process, itself, on a normal exit
    exit: target, target_pid, status                supervisor that saw a child exit
                                                    (status <0: killed by signal -status)
    spawn: target, target_pid                       supervisor that started a child
    kill: target, target_pid                        whoever sends a SIGKILL, before sending
    crash: point                                    a process at an injected crash point,
                                                    right before os._exit

Lab 1 (client.py, worker.py)
    enqueued: files                                 client: stream entries written
    snapshot: target="redis", asked                 client: BGSAVE confirmed by LASTSAVE;
                                                    asked = monotonic time it was requested,
                                                    about the moment whose state it holds
    redis_restart: target="redis", target_pid, restarts
    replacements: generation, count                 client: every worker died, new generation
    job_done: elapsed_s, stolen, redis_restarts, replacements
    read: ids                                       worker: entries from XREADGROUP
    steal: ids                                      worker: entries from XAUTOCLAIM
    commit: ids                                     worker: entries whose counts were applied
    dropped: ids                                    worker: entries the commit refused
                                                    (no longer pending: stolen or rolled back)

Lab 2 (coordinator/, mapper/, reducer/)
    checkpoint_sent: cp                             coordinator: checkpoint cp started
    checkpoint_complete: cp                         coordinator: every ack of cp is in
    checkpoint_aborted: cp                          coordinator: cp abandoned (a failure)
    marker_forwarded: cp                            mapper/reducer: barrier sent downstream
    channel_blocked: cp, channel                    reducer: input channel held for alignment
    snapshot_written: cp                            mapper/reducer: state of cp is durable
    ack: cp, kind, src                              coordinator, on receipt (src = sender label)
    heartbeat_missed: target                        coordinator: target's heartbeat is late
    worker_restarted: target, target_pid            coordinator: replacement started
    recovery_started: rid, cp                       coordinator: rollback rid to checkpoint cp
    recovery_done: rid                              coordinator: everyone resumed from cp

The timeline draws checkpoint_sent..checkpoint_complete (or _aborted) and
recovery_started..recovery_done as spans, channel_blocked..snapshot_written
as a worker's alignment span, kill/crash..restart as an outage, and the rest
as markers. New event names are fine (they are drawn as plain markers), but
prefer these so every lab's timeline reads the same.
"""
from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any

log = logging.getLogger(__name__)

ENV_PATH = "WC_TRACE"
ENV_PROC = "WC_TRACE_PROC"
MAX_LINE = 4000  # bytes; below PIPE_BUF (4096), the size appends are atomic at anyway
CORE_FIELDS = ("t", "pid", "proc", "ev")

# both labs
RUN_START, RUN_END, START, EXIT, SPAWN, KILL, CRASH = (
    "run_start", "run_end", "start", "exit", "spawn", "kill", "crash")
# Lab 1
ENQUEUED, SNAPSHOT, REDIS_RESTART, REPLACEMENTS, JOB_DONE = (
    "enqueued", "snapshot", "redis_restart", "replacements", "job_done")
READ, STEAL, COMMIT, DROPPED = "read", "steal", "commit", "dropped"
# Lab 2
CHECKPOINT_SENT, CHECKPOINT_COMPLETE, CHECKPOINT_ABORTED = (
    "checkpoint_sent", "checkpoint_complete", "checkpoint_aborted")
MARKER_FORWARDED, CHANNEL_BLOCKED, SNAPSHOT_WRITTEN, ACK = (
    "marker_forwarded", "channel_blocked", "snapshot_written", "ack")
HEARTBEAT_MISSED, WORKER_RESTARTED, RECOVERY_STARTED, RECOVERY_DONE = (
    "heartbeat_missed", "worker_restarted", "recovery_started", "recovery_done")


class _Writer:
    """The open trace file of this process (or None: tracing off)."""

    def __init__(self) -> None:
        self.configured = False
        self.fd: int | None = None
        self.path: str | None = None
        self.proc = ""

    def open(self, path: str | None, proc: str | None) -> None:
        self.close()
        self.configured = True
        self.path = path or None
        self.proc = proc or _default_label()
        if self.path is None:
            return
        try:
            self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            self._give_up(exc)

    def close(self) -> None:
        self._close_fd()
        self.configured = False

    def _close_fd(self) -> None:
        if self.fd is not None:
            try:
                os.close(self.fd)
            except OSError:
                pass
        self.fd = None

    def write(self, data: bytes) -> None:
        try:
            os.write(self.fd, data)  # type: ignore[arg-type]
        except OSError as exc:
            self._give_up(exc)

    def _give_up(self, exc: OSError) -> None:
        """A trace must never take a process down: warn once, then stay silent."""
        log.warning("tracing to %s disabled: %s", self.path, exc.strerror or exc)
        self._close_fd()


_writer = _Writer()


def _default_label() -> str:
    """The script's name, for a traced process nobody gave a label."""
    return os.path.splitext(os.path.basename(sys.argv[0] if sys.argv else ""))[0] or "proc"


def setup(path: str | os.PathLike | None = None, proc: str | None = None) -> None:
    """Trace to `path` as `proc`; what is not given comes from WC_TRACE / WC_TRACE_PROC.

    No path and no WC_TRACE turns tracing off.
    """
    path = os.fspath(path) if path is not None else os.environ.get(ENV_PATH)
    _writer.open(path, proc or os.environ.get(ENV_PROC))


def reset() -> None:
    """Close the file and forget the setup: the next event() reads the environment again.

    For tests that change the environment or trace to several files in turn.
    """
    _writer.close()


def enabled() -> bool:
    """True if events of this process are being written."""
    if not _writer.configured:
        setup()
    return _writer.fd is not None


def path() -> str | None:
    """The trace file this process writes to, or None."""
    return _writer.path if enabled() else None


def child_env(proc: str) -> dict[str, str]:
    """Environment entries that make a child trace to our file as `proc`."""
    return {ENV_PATH: _writer.path, ENV_PROC: proc} if enabled() and _writer.path else {}


def event(kind: str, /, **fields: Any) -> None:
    """Append one event; never raises. Non-JSON values are written as str().

    `kind` is positional-only, so a field may be called "kind" too (ack does).
    """
    if _writer.configured and _writer.fd is None:
        return  # the common "tracing off" case: one check
    try:
        if not enabled():
            return
        _writer.write(_encode(kind, fields))
    except Exception as exc:  # noqa: BLE001 - tracing must not crash its caller
        log.debug("trace event %r not written: %s", kind, exc)


def _encode(kind: str, fields: dict[str, Any]) -> bytes:
    """One line of at most MAX_LINE bytes; oversized fields are left out and flagged."""
    record: dict[str, Any] = {"t": round(time.monotonic(), 6), "pid": os.getpid(),
                              "proc": _writer.proc, "ev": kind}
    extra = {k: v for k, v in fields.items() if k not in CORE_FIELDS}
    line = _dumps({**record, **extra})
    if len(line) >= MAX_LINE:
        small = {k: v for k, v in extra.items() if len(_dumps(v)) <= 200}
        line = _dumps({**record, **small, "truncated": sorted(set(extra) - set(small))})
    if len(line) >= MAX_LINE:
        line = _dumps({**record, "ev": kind[:200], "truncated": sorted(extra)[:20]})
    return line + b"\n"


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), default=str).encode("ascii")


def read_trace(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The events of a trace file, in file order (each process's in its own order).

    Malformed lines are skipped; a line where a killed writer left half a
    record before another process's whole one keeps the whole one. Raises
    OSError if the file cannot be read.
    """
    with open(path, "rb") as fh:
        raw = fh.read()
    events = []
    for line in raw.decode("utf-8", errors="replace").splitlines():
        record = _parse_line(line)
        if record is not None:
            events.append(record)
    return events


def _parse_line(line: str) -> dict[str, Any] | None:
    for start in (0, line.rfind('{"t":')):
        if start < 0:
            continue
        try:
            record = json.loads(line[start:])
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("t"), (int, float)) \
                and isinstance(record.get("ev"), str):
            record.setdefault("proc", "?")
            record.setdefault("pid", None)
            return record
    return None

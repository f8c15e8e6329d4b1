"""Starting, killing, reaping and replacing the worker processes.

Only the coordinator's main thread calls into this class: PR_SET_PDEATHSIG
ties each child to the thread that forked it, so every spawn must come from
a thread that lives as long as the job. A replacement is started only after
the process it replaces has been killed (if still running, e.g. hung) and
reaped, so it can rebind the same port -- unless it is placed `remote`
(wordcount/placement.py): a process on another machine cannot be killed from
here, so it is left running ("detached") and must exit by itself once it
learns it was superseded; `zombies()` says whether it did.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
from collections import Counter

from wordcount import parts, procs, trace
from wordcount.config import Settings
from wordcount.errors import JobFailed, UserError
from wordcount.faults.process import CRASH_EXIT
from wordcount.ids import WorkerId
from wordcount.splits import FILE_CHANGED_EXIT, change_reported
from wordcount.placement import host_of, place_of
from wordcount.stream.spec import JobSpec

log = logging.getLogger("coordinator")


class Supervisor:
    def __init__(self, spec: JobSpec, settings: Settings, coordinator_addr: tuple[str, int]) -> None:
        self.spec = spec
        self.settings = settings
        self.coordinator = f"{coordinator_addr[0]}:{coordinator_addr[1]}"
        configured = list(settings.stream.reducer_ports) or [0] * spec.reducers
        self.reducer_ports: list[int] = configured  # 0 until the reducer reports the port it picked
        self.procs: dict[str, subprocess.Popen] = {}
        self.incarnation: dict[str, int] = {}
        self.reported: set[tuple[str, int]] = set()  # exits already handed to the phase machine
        self.chaos_killed: set[str] = set()
        self.unexpected: Counter[str] = Counter()
        self.detached: list[tuple[str, int, subprocess.Popen]] = []  # superseded remote processes
        self.warm: dict[tuple[str, int], parts.Warm] = {}  # prestarted, waiting for their go

    # -- starting ---------------------------------------------------------------------
    def args(self, wid: str, incarnation: int) -> list[str]:
        """Command-line arguments of one incarnation of `wid` (mapper or reducer),
        but a mapper's reducer addresses (`reducers_args`), known only once every
        reducer has said hello."""
        worker = WorkerId.parse(wid)
        args = ["--id", wid, "--incarnation", str(incarnation), "--settings", self.spec.settings_path,
                "--coordinator", self.coordinator, "--checkpoint-dir", self.spec.checkpoint_dir]
        if worker.is_mapper:
            args += ["--job", self.spec.job, "--throttle", str(self.spec.throttle_s)]
        else:
            args += ["--port", str(self.reducer_ports[worker.index]), "--mappers", str(self.spec.mappers)]
        crash = self.spec.crash.get(wid)
        if crash and incarnation == 0:  # fires once per worker id: replacements never get it
            args += ["--crash", crash]
        return args

    def reducers_args(self, wid: str) -> list[str]:
        """A mapper's `--reducers HOST:PORT,...` (nothing for a reducer)."""
        if not WorkerId.parse(wid).is_mapper:
            return []
        st = self.settings.stream
        hosts = [host_of(st.placement, f"reducer-{i}", st.host) for i in range(len(self.reducer_ports))]
        return ["--reducers", ",".join(f"{h}:{p}" for h, p in zip(hosts, self.reducer_ports))]

    def _warm(self, wid: str, incarnation: int) -> parts.Warm:
        """`wid`'s process, started up to its go (wordcount/warm.py)."""
        log_path = os.path.join(self.spec.run_path, "logs", f"{wid}.{incarnation}.log")
        place = place_of(self.settings.stream.placement, wid, incarnation)
        return parts.prestart(self.settings.parts, WorkerId.parse(wid).kind, self.args(wid, incarnation),
                              label=wid, log_path=log_path, launch=place.launch)

    def prestart(self, wid: str, incarnation: int) -> None:
        """Start `wid`'s interpreter now, while the reducers are still starting;
        `start` sends its go."""
        self.warm[(wid, incarnation)] = self._warm(wid, incarnation)

    def start(self, wid: str, incarnation: int) -> None:
        """Start `wid` (the reference, or the swapped-in part of its kind), or
        send the go to its prestarted process."""
        self.incarnation[wid] = incarnation  # before it can say hello: only this one is accepted now
        warm = self.warm.pop((wid, incarnation), None) or self._warm(wid, incarnation)
        proc = self.procs[wid] = warm.go(self.reducers_args(wid))
        if incarnation:
            trace.event(trace.WORKER_RESTARTED, target=wid, target_pid=proc.pid)
        log.info("started %s incarnation %d (pid %d)", wid, incarnation, proc.pid)

    def restart(self, wid: str, incarnation: int) -> str:
        """Kill (if running) and reap the current process, start `incarnation`;
        returns why the old one went ("killed", "crash", "hung" or "exit N")."""
        cause = self._reap(wid)
        if cause == f"exit {FILE_CHANGED_EXIT}":  # restarting cannot help: the input changed
            log_path = os.path.join(self.spec.run_path, "logs", f"{wid}.{self.incarnation[wid]}.log")
            raise UserError(change_reported(log_path))
        if cause not in ("killed", "crash"):  # injected kills and crash points are free; hangs count
            self.unexpected[wid] += 1
            limit = self.settings.stream.max_restarts_per_worker
            if self.unexpected[wid] > limit:
                raise JobFailed(f"{wid} failed {self.unexpected[wid]} times ({cause}); see "
                                f"{self.spec.run_path}/logs/{wid}.*.log (stream.max_restarts_per_worker="
                                f"{limit})")
        self.start(wid, incarnation)
        return cause

    def _reap(self, wid: str) -> str:
        proc = self.procs[wid]
        hung = proc.poll() is None
        if hung and place_of(self.settings.stream.placement, wid, self.incarnation[wid]).remote:
            self.detached.append((wid, self.incarnation[wid], proc))
            self.reported.add((wid, self.incarnation[wid]))
            log.warning("%s incarnation %d is remote and cannot be killed: left to notice it was superseded",
                        wid, self.incarnation[wid])
            return "unreachable"
        if hung:
            trace.event(trace.KILL, target=wid, target_pid=proc.pid)
            procs.kill(proc, signal.SIGKILL)
        status = proc.wait()
        trace.event(trace.EXIT, target=wid, target_pid=proc.pid, status=status)
        if wid in self.chaos_killed:
            self.chaos_killed.discard(wid)
            return "killed"
        if hung:
            return "hung"
        return "crash" if status == CRASH_EXIT else f"exit {status}"

    # -- watching ------------------------------------------------------------------------
    def exited(self) -> list[tuple[str, int]]:
        """(id, incarnation) of processes that ended since the last call."""
        out = []
        for wid, proc in self.procs.items():
            key = (wid, self.incarnation[wid])
            if key not in self.reported and proc.poll() is not None:
                self.reported.add(key)
                out.append(key)
        return out

    def running(self, wid: str) -> bool:
        proc = self.procs.get(wid)
        return proc is not None and proc.poll() is None

    def kill(self, wid: str, at: str | None = None) -> None:
        """SIGKILL for crash injection; the exit is then noticed like any other.
        `at` names the logical point of a --chaos/--kill-at kill (traced)."""
        self.chaos_killed.add(wid)
        trace.event(trace.KILL, target=wid, target_pid=self.procs[wid].pid, **({"at": at} if at else {}))
        procs.kill(self.procs[wid], signal.SIGKILL)
        log.warning("chaos: SIGKILL %s (pid %d)%s", wid, self.procs[wid].pid, f" at {at}" if at else "")

    def zombies(self) -> list[dict]:
        """The detached processes: did each exit by itself (and with which status)?"""
        return [{"worker": wid, "incarnation": inc, "pid": proc.pid, "exited_by_itself": proc.poll() is not None,
                 "status": proc.poll()} for wid, inc, proc in self.detached]

    def zombies_running(self) -> bool:
        return any(proc.poll() is None for _, _, proc in self.detached)

    def stop_all(self) -> None:
        for warm in self.warm.values():  # never needed (the job failed while starting)
            warm.cancel()
        self.warm.clear()
        for wid, inc, proc in self.detached:
            if proc.poll() is None:  # still cut off at the end: stopped here only because it is local after all
                log.warning("%s incarnation %d (remote) still running at the end; stopping it", wid, inc)
            status = procs.stop(proc, grace=1.0)
            trace.event(trace.EXIT, target=wid, target_pid=proc.pid, status=status)
        for wid, proc in self.procs.items():
            if (wid, self.incarnation[wid]) not in self.reported:
                status = procs.stop(proc, grace=1.0)
                trace.event(trace.EXIT, target=wid, target_pid=proc.pid, status=status)

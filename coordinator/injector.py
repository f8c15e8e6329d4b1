"""Crash injection by the coordinator: SIGKILLs of worker processes on the
timed schedule (--kill WHO --every S) or at the logical points of a plan
(--chaos SEED / --kill-at), both only while work is pending.

The event loop (coordinator.py) only tells the injector what happened: every
tick, and after every step of the phase machine the transitions that step
made. What to kill and when is decided here, from wordcount/faults/schedules.py,
and recorded for the run result ("kills", "chaos").
"""
from __future__ import annotations

import logging

from coordinator.phases import Phase, State
from coordinator.recoveries import RecoveryLog
from coordinator.supervisor import Supervisor
from wordcount.faults.schedules import KillSchedule, LogicalKill, LogicalKills
from wordcount.ids import all_names
from wordcount.stream.spec import JobSpec

log = logging.getLogger("coordinator")


class FaultInjector:
    """The job's kill schedule (timed or logical, at most one) and the kills it fired."""

    def __init__(self, spec: JobSpec, sup: Supervisor, recoveries: RecoveryLog, t0: float) -> None:
        self.spec = spec
        self.sup = sup
        self.recoveries = recoveries
        self.t0 = t0
        self.timed: KillSchedule | None = None  # --kill, armed by start() once every worker runs
        self.victims: list[str] = []  # of the due timed kill, killed once all of them are running
        plan = spec.logical
        self.logical = LogicalKills(plan) if plan else None  # --chaos / --kill-at
        self.fired: list[dict] = []  # the logical kills, with what the coordinator saw when each fired

    def start(self, now: float) -> None:
        """Every worker has started: the timed schedule's clock starts now."""
        if self.spec.timed:
            self.timed = KillSchedule(self.spec.timed, all_names(self.spec.mappers, self.spec.reducers), now)

    def on_tick(self, state: State, now: float) -> None:
        """Timed: SIGKILL the chosen workers when due."""
        if self.timed is None or state.phase == Phase.EXITING:
            return
        if not self.victims and self.timed.due(now):
            self.victims = self.timed.victims()
        if self.victims and all(self.sup.running(w) for w in self.victims):
            for wid in self.victims:
                self.sup.kill(wid)
                self.recoveries.killed(wid, now)
            self.victims = []
            self.timed.done_one(now)

    def after_step(self, state: State, transitions: list[str], now: float) -> None:
        """Logical: SIGKILL the victim of the armed kill once this step reached its point."""
        if self.logical is None or state.phase == Phase.EXITING:
            return
        kill = self.logical.due(transitions, state.files_done)
        if kill is not None:
            self.fired.append(self._fire(kill, state, now))

    def _fire(self, kill: LogicalKill, state: State, now: float) -> dict:
        entry = {**kill.to_json(), "checkpoint_id": state.next_cp_id - 1, "completed_id": state.completed_id,
                 "recovery_id": state.recovery_id, "files_done": state.files_done, "t_s": round(now - self.t0, 3)}
        if self.sup.running(kill.victim):
            self.sup.kill(kill.victim, at=str(kill.at))
            self.recoveries.killed(kill.victim, now)
        else:  # it already failed on its own and is about to be restarted: nothing to kill
            entry["skipped"] = "not running"
            log.warning("chaos: %s reached, but %s is not running", kill.at, kill.victim)
        return entry

    def result(self) -> dict:
        """The run result's "kills" (how many fired) and "chaos" (the logical kills, or None)."""
        kills = self.timed.fired if self.timed else sum("skipped" not in f for f in self.fired)
        return {"kills": kills, "chaos": self.fired if self.logical else None}

"""The coordinator's phase machine, as one pure function: step(state, event).

    CP --all mappers done, no checkpoint pending--> LAST_CP --all last acks--> EXITING
    any phase but EXITING --worker failed--> RECOVER_REDUCER --all reducer acks-->
        RECOVER_MAPPER --all mapper acks--> CP

Nothing here reads a clock, touches a socket or a process: the caller passes
the time inside each event and carries out the returned actions (send a
message, restart a worker, finish). That keeps every transition -- stale acks,
duplicates, a failure during recovery or during the last checkpoint -- unit
testable, and keeps all coordinator state in one value that only the
coordinator's main thread replaces. docs/lab2.md has the diagram.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Iterable

import message as m
from coordinator.events import (  # noqa: F401  (re-exported: the machine's vocabulary)
    Action, Event, Finish, Received, Restart, Send, Tick, WorkerExited,
)
from wordcount.ids import all_ids


class Phase(IntEnum):
    CP = 1
    RECOVER_REDUCER = 2
    RECOVER_MAPPER = 3
    LAST_CP = 4
    EXITING = 5


@dataclass(frozen=True)
class Timing:
    checkpoint_interval_s: float  # 0 = only the final checkpoint
    heartbeat_timeout_s: float
    resend_timeout_s: float
    startup_grace_s: float = 10.0  # extra time a (re)started worker gets before its first heartbeat


@dataclass(frozen=True)
class Worker:
    """What the coordinator believes about one worker id (all its incarnations)."""

    id: str
    is_mapper: bool
    incarnation: int = 0
    registered: bool = False  # this incarnation said hello (its address is known)
    deadline: float = 0.0  # monotonic time its next heartbeat is due by
    done: bool = False  # mapper: stream exhausted under the current recovery id
    position: int = 0  # mapper: entries processed, as last reported


@dataclass(frozen=True)
class Pending:
    """An outstanding request: a checkpoint (CP, LAST_CP) or a recovery (RECOVER_*)."""

    checkpoint_id: int  # the checkpoint being taken, or the one being rolled back to
    final: bool
    waiting: frozenset[str]  # workers whose ack has not arrived
    sent_at: float


@dataclass(frozen=True)
class State:
    timing: Timing
    workers: tuple[Worker, ...]
    phase: Phase = Phase.CP
    recovery_id: int = 0  # 0 until the first failure; every message that matters carries it
    next_cp_id: int = 1  # ids are never reused, not even those of abandoned checkpoints
    completed_id: int = 0  # last checkpoint every worker acked; 0 = none (roll back to the beginning)
    checkpoints_completed: int = 0
    pending: Pending | None = None
    next_cp_at: float = 0.0
    outcome: str | None = None  # set on EXITING: "" = success, else why the job failed

    def worker(self, wid: str) -> Worker | None:
        return next((w for w in self.workers if w.id == wid), None)

    def ids(self, mappers: bool | None = None) -> list[str]:
        return [w.id for w in self.workers if mappers is None or w.is_mapper == mappers]

    @property
    def all_done(self) -> bool:
        return all(w.done for w in self.workers if w.is_mapper)

    @property
    def files_done(self) -> int:
        return sum(w.position for w in self.workers if w.is_mapper)


Result = tuple[State, list[Action]]


def initial_state(timing: Timing, mappers: int, reducers: int, now: float,
                  registered: Iterable[str] = ()) -> State:
    """Everyone at the beginning (recovery id 0, no checkpoint), deadlines from `now`."""
    known = set(registered)
    workers = tuple(
        Worker(str(wid), is_mapper=wid.is_mapper, registered=str(wid) in known,
               deadline=now + timing.heartbeat_timeout_s + (0 if str(wid) in known else timing.startup_grace_s))
        for wid in all_ids(mappers, reducers)
    )
    return State(timing=timing, workers=workers, next_cp_at=now + timing.checkpoint_interval_s)


def step(state: State, event: Event) -> Result:
    """The next state and what to do, for one event. Never mutates `state`."""
    if state.phase == Phase.EXITING:
        return state, []
    if isinstance(event, Tick):
        return _on_tick(state, event.now)
    if isinstance(event, WorkerExited):
        w = state.worker(event.worker)
        if w is None or w.incarnation != event.incarnation:
            return state, []
        return fail(state, [event.worker], event.now)
    return _on_message(state, event.msg, event.now)


# -- helpers ------------------------------------------------------------------------------
def _update(state: State, wid: str, **changes) -> State:
    return replace(state, workers=tuple(replace(w, **changes) if w.id == wid else w for w in state.workers))


def _recovering_group(phase: Phase) -> bool | None:
    """True if mappers are being recovered, False for reducers, None outside recovery."""
    return {Phase.RECOVER_REDUCER: False, Phase.RECOVER_MAPPER: True}.get(phase)


def _checkpoint_msg(state: State) -> m.Checkpoint:
    assert state.pending is not None
    return m.Checkpoint(m.COORDINATOR, state.pending.checkpoint_id, state.recovery_id,
                        state.pending.final, state.completed_id)


def _recovery_msg(state: State) -> m.Recovery:
    assert state.pending is not None
    return m.Recovery(m.COORDINATOR, state.recovery_id, state.pending.checkpoint_id)


# -- timers ----------------------------------------------------------------------------------
def _on_tick(state: State, now: float) -> Result:
    dead = [w.id for w in state.workers if now > w.deadline]
    if dead:
        return fail(state, dead, now)
    if state.pending is None:
        return _maybe_checkpoint(state, now)
    if now - state.pending.sent_at < state.timing.resend_timeout_s:
        return state, []
    return _resend(state, now)


def _resend(state: State, now: float) -> Result:
    """Repeat the outstanding request to whoever has not acked (UDP may lose it).

    A worker that already did it only acks again, so repeating is harmless;
    for a reducer a checkpoint message is just a request to repeat its ack.
    """
    assert state.pending is not None
    msg = _recovery_msg(state) if _recovering_group(state.phase) is not None else _checkpoint_msg(state)
    targets = [w.id for w in state.workers if w.id in state.pending.waiting and w.registered]
    state = replace(state, pending=replace(state.pending, sent_at=now))
    return state, [Send(wid, msg) for wid in targets]


def _maybe_checkpoint(state: State, now: float) -> Result:
    """In CP with nothing pending: the final checkpoint once all mappers are done,
    else a periodic one when the interval has passed."""
    if state.phase != Phase.CP or state.pending is not None:
        return state, []
    if state.all_done:
        return _start_checkpoint(replace(state, phase=Phase.LAST_CP), now, final=True)
    interval = state.timing.checkpoint_interval_s
    if interval > 0 and now >= state.next_cp_at:
        return _start_checkpoint(state, now, final=False)
    return state, []


def _start_checkpoint(state: State, now: float, final: bool) -> Result:
    pending = Pending(state.next_cp_id, final, frozenset(state.ids()), now)
    state = replace(state, pending=pending, next_cp_id=state.next_cp_id + 1)
    msg = _checkpoint_msg(state)
    return state, [Send(w.id, msg) for w in state.workers if w.is_mapper and w.registered]


# -- failures ----------------------------------------------------------------------------------
def fail(state: State, failed: Iterable[str], now: float) -> Result:
    """Restart the failed workers and roll everyone back to the last completed checkpoint.

    A new recovery id makes every ack and word count from before it stale. An
    in-flight checkpoint is abandoned (its id is not reused). A failure during
    a recovery simply starts a newer one.
    """
    if state.phase == Phase.EXITING:
        return state, []
    failed = sorted(set(failed))
    grace = state.timing.heartbeat_timeout_s + state.timing.startup_grace_s
    workers = tuple(
        replace(w, incarnation=w.incarnation + 1, registered=False, deadline=now + grace, done=False)
        if w.id in failed else replace(w, done=False)
        for w in state.workers
    )
    state = replace(state, workers=workers, recovery_id=state.recovery_id + 1)
    restarts: list[Action] = [Restart(wid, state.worker(wid).incarnation) for wid in failed]  # type: ignore[union-attr]
    state, sends = _start_recovery(state, Phase.RECOVER_REDUCER, now)
    return state, restarts + sends


def _start_recovery(state: State, phase: Phase, now: float) -> Result:
    group = _recovering_group(phase)
    pending = Pending(state.completed_id, False, frozenset(state.ids(mappers=group)), now)
    state = replace(state, phase=phase, pending=pending)
    msg = _recovery_msg(state)
    return state, [Send(w.id, msg) for w in state.workers if w.is_mapper == group and w.registered]


def _job_failed(state: State, reason: str) -> Result:
    state = replace(state, phase=Phase.EXITING, pending=None, outcome=reason)
    return state, [*_exit_all(state), Finish(False, state.completed_id, reason)]


def _exit_all(state: State) -> list[Action]:
    return [Send(wid, m.Exit(m.COORDINATOR)) for wid in state.ids()]


# -- messages ------------------------------------------------------------------------------------
def _on_message(state: State, msg: m.Message, now: float) -> Result:
    w = state.worker(msg.sender)
    if w is None:
        return state, []
    if isinstance(msg, (m.Hello, m.Heartbeat)):
        return _on_alive(state, w, msg, now)
    if isinstance(msg, m.Done):
        return _on_done(state, w, msg.recovery_id, msg.position, now)
    if isinstance(msg, (m.CheckpointAck, m.LastCheckpointAck)):
        return _on_checkpoint_ack(state, w, msg, now)
    if isinstance(msg, m.RecoveryAck):
        return _on_recovery_ack(state, w, msg, now)
    return state, []  # nothing else is addressed to the coordinator


def _on_alive(state: State, w: Worker, msg: m.Hello | m.Heartbeat, now: float) -> Result:
    """A sign of life from the current incarnation: new deadline; maybe progress."""
    if msg.incarnation != w.incarnation:
        return state, []  # a late datagram from an incarnation already replaced
    first = not w.registered
    state = _update(state, w.id, registered=True, deadline=now + state.timing.heartbeat_timeout_s)
    actions: list[Action] = []
    if first and state.pending is not None and w.id in state.pending.waiting:
        # a restarted worker is now reachable: give it the request it missed
        group = _recovering_group(state.phase)
        if group is None:
            actions.append(Send(w.id, _checkpoint_msg(state)))
        elif group == w.is_mapper:
            actions.append(Send(w.id, _recovery_msg(state)))
    if isinstance(msg, m.Heartbeat):
        state, more = _on_done(state, w, msg.recovery_id, msg.position, now, done=msg.done)
        actions += more
    return state, actions


def _on_done(state: State, w: Worker, recovery_id: int, position: int, now: float,
             done: bool = True) -> Result:
    """Progress and the done flag count only under the current recovery id."""
    if not w.is_mapper or recovery_id != state.recovery_id:
        return state, []
    state = _update(state, w.id, position=position, done=done or state.worker(w.id).done)  # type: ignore[union-attr]
    return _maybe_checkpoint(state, now)


def _on_checkpoint_ack(state: State, w: Worker, msg: m.CheckpointAck | m.LastCheckpointAck,
                       now: float) -> Result:
    # BEGIN SOLUTION: drop stale or duplicate acks; complete the checkpoint once every worker acked it for this recovery id
    p = state.pending
    final = isinstance(msg, m.LastCheckpointAck)
    expected_phase = Phase.LAST_CP if final else Phase.CP
    if (state.phase != expected_phase or p is None or p.final != final or msg.checkpoint_id != p.checkpoint_id
            or msg.recovery_id != state.recovery_id or w.id not in p.waiting):
        return state, []  # stale (older recovery or checkpoint), duplicate, or out of place
    p = replace(p, waiting=p.waiting - {w.id})
    state = replace(state, pending=p)
    if p.waiting:
        return state, []
    state = replace(state, completed_id=p.checkpoint_id, checkpoints_completed=state.checkpoints_completed + 1,
                    pending=None, next_cp_at=now + state.timing.checkpoint_interval_s)
    if final:
        state = replace(state, phase=Phase.EXITING, outcome="")
        return state, [*_exit_all(state), Finish(True, p.checkpoint_id)]
    return _maybe_checkpoint(state, now)
    # END SOLUTION


def _on_recovery_ack(state: State, w: Worker, msg: m.RecoveryAck, now: float) -> Result:
    p = state.pending
    group = _recovering_group(state.phase)
    if (group is None or p is None or msg.recovery_id != state.recovery_id
            or w.is_mapper != group or w.id not in p.waiting):
        return state, []
    if msg.error:
        return _job_failed(state, f"{w.id} could not roll back to checkpoint {msg.checkpoint_id}: {msg.error}")
    state = replace(state, pending=replace(p, waiting=p.waiting - {w.id}))
    if w.is_mapper:
        state = _update(state, w.id, position=msg.position)
    if state.pending.waiting:  # type: ignore[union-attr]
        return state, []
    if state.phase == Phase.RECOVER_REDUCER:
        return _start_recovery(state, Phase.RECOVER_MAPPER, now)
    state = replace(state, phase=Phase.CP, pending=None, next_cp_at=now + state.timing.checkpoint_interval_s)
    return _maybe_checkpoint(state, now)


__all__ = ["Phase", "Timing", "Worker", "Pending", "State", "Tick", "Received", "WorkerExited",
           "Send", "Restart", "Finish", "initial_state", "step", "fail"]

"""The coordinator's phase machine on its own (no processes). Properties:

* a checkpoint starts after the interval, goes to mappers only (a late one
  at its hello), completes only when every worker acked it and is resent till
  then; duplicate or misaddressed acks change nothing; interval 0: none;
* a missed heartbeat starts a recovery with a restart; replacements get fresh
  deadlines, old incarnations are ignored, a hello mid-recovery gets the recovery;
* recovery goes reducers, mappers, then back to checkpointing, to the last
  completed checkpoint (or the beginning); older acks are ignored; a second
  failure starts a newer one; its messages are resent until acked; an
  unreadable checkpoint fails the job with the reason;
* done mappers (also via heartbeat, not from before the current recovery) lead to the final
  checkpoint: it waits for a pending one, is resent, is redone with a new id after a failure;
  several failures at once make one recovery; nothing happens after exiting.
"""
from __future__ import annotations

import pytest

import message as m
from coordinator.phases import Finish, Phase, Received, Restart, Send, State, Tick, Timing, WorkerExited
from coordinator.phases import initial_state, step

pytestmark = pytest.mark.stream

T = Timing(checkpoint_interval_s=1.0, heartbeat_timeout_s=2.0, resend_timeout_s=0.5, startup_grace_s=3.0)
MAPPERS = ["mapper-0", "mapper-1"]
REDUCERS = ["reducer-0", "reducer-1"]
ALL = MAPPERS + REDUCERS
C = m.COORDINATOR


def fresh(now: float = 0.0, timing: Timing = T) -> State:
    """2x2, everyone registered at time `now`."""
    return initial_state(timing, 2, 2, now, registered=ALL)


def run(state: State, *events) -> tuple[State, list]:
    actions: list = []
    for ev in events:
        state, acts = step(state, ev)
        actions += acts
    return state, actions


def rx(msg: m.Message, now: float = 0.0) -> Received:
    return Received(msg, now)


def sends(actions, kind=None) -> list[tuple[str, m.Message]]:
    return [(a.to, a.msg) for a in actions if isinstance(a, Send) and (kind is None or isinstance(a.msg, kind))]


def acks(cp: int, r: int, now: float = 0.0, who=ALL, last=False) -> list[Received]:
    cls = m.LastCheckpointAck if last else m.CheckpointAck
    return [rx(cls(w, cp, r), now) for w in who]


def alive(state: State, now: float) -> list[Received]:
    """A heartbeat from every worker's current incarnation (keeps deadlines fresh)."""
    return [rx(m.Heartbeat(w.id, w.incarnation, state.recovery_id, w.position, w.done), now) for w in state.workers]


def in_checkpoint(now: float = 1.0) -> State:
    state, actions = step(fresh(), Tick(now))
    assert state.pending is not None
    return state


def recovered(state: State, now: float) -> State:
    """Drive a recovery that is under way to its end (all reducer then mapper acks)."""
    r, target = state.recovery_id, state.pending.checkpoint_id
    state, _ = run(state, *[rx(m.RecoveryAck(w, r, target, 0, ""), now) for w in REDUCERS])
    state, _ = run(state, *[rx(m.RecoveryAck(w, r, target, 0, ""), now) for w in MAPPERS])
    assert state.phase == Phase.CP
    return state


# -- CP -----------------------------------------------------------------------------------------------
def test_checkpoint_starts_after_the_interval_and_goes_to_mappers_only():
    state, actions = step(fresh(), Tick(0.5))
    assert actions == [] and state.pending is None
    state, actions = step(state, Tick(1.0))
    assert state.phase == Phase.CP
    assert sends(actions) == [(w, m.Checkpoint(C, 1, 0, False, 0)) for w in MAPPERS]
    assert state.pending.waiting == frozenset(ALL) and state.next_cp_id == 2


def test_checkpoint_completes_only_when_every_worker_acked():
    state = in_checkpoint()
    state, _ = run(state, *acks(1, 0, who=ALL[:-1]))
    assert state.completed_id == 0 and state.pending.waiting == {"reducer-1"}
    state, actions = run(state, *acks(1, 0, 1.2, who=["reducer-1"]))
    assert state.completed_id == 1 and state.pending is None and state.checkpoints_completed == 1
    assert actions == []
    assert state.next_cp_at == pytest.approx(2.2)
    state, actions = run(state, *alive(state, 2.0), Tick(2.2))
    assert sends(actions) == [(w, m.Checkpoint(C, 2, 0, False, 1)) for w in MAPPERS]  # tells completed id 1


def test_duplicate_and_misaddressed_acks_change_nothing():
    state = in_checkpoint()
    state, _ = run(state, *acks(1, 0, who=["mapper-0"]))
    again, actions = run(state, *acks(1, 0, who=["mapper-0"]), *acks(7, 0, who=["mapper-1"]),
                         *acks(1, 0, who=["mapper-1"], last=True), rx(m.CheckpointAck("stranger", 1, 0)),
                         rx(m.Exit("mapper-1")))
    assert again == state and actions == []


def test_unacked_checkpoint_is_resent_to_every_worker_missing_it():
    state = in_checkpoint(1.0)
    state, _ = run(state, *acks(1, 0, who=["mapper-0", "reducer-0"]))
    state, actions = step(state, Tick(1.4))
    assert actions == []
    state, actions = step(state, Tick(1.5))
    msg = m.Checkpoint(C, 1, 0, False, 0)
    assert sorted(sends(actions)) == [("mapper-1", msg), ("reducer-1", msg)]
    state, actions = step(state, Tick(1.6))  # resend timer restarted
    assert actions == []


def test_no_periodic_checkpoints_with_interval_zero():
    state = fresh(timing=Timing(0.0, 2.0, 0.5))
    state, actions = run(state, Tick(0.5), *alive(state, 1.0), Tick(1.9))
    assert actions == [] and state.pending is None


def test_checkpoint_for_an_unregistered_mapper_is_sent_when_it_says_hello():
    state = initial_state(T, 2, 2, 0.0, registered=REDUCERS)
    state, actions = run(state, rx(m.Hello("mapper-0", 0, 11, 0)), Tick(1.0))
    assert sends(actions) == [("mapper-0", m.Checkpoint(C, 1, 0, False, 0))]
    state, actions = step(state, rx(m.Hello("mapper-1", 0, 12, 0), 1.1))
    assert sends(actions) == [("mapper-1", m.Checkpoint(C, 1, 0, False, 0))]
    state, actions = step(state, rx(m.Hello("mapper-1", 0, 12, 0), 1.2))  # duplicate hello
    assert actions == []


# -- heartbeats and failure detection ------------------------------------------------------------------
def test_missed_heartbeat_starts_recovery_with_a_restart():
    state = fresh()
    state, actions = run(state, *[e for e in alive(state, 1.5) if e.msg.sender != "reducer-1"], Tick(2.0))
    assert not [a for a in actions if isinstance(a, Restart)]  # floats: 2.0 is not past 0 + 2.0
    state, actions = step(state, Tick(2.01))
    assert state.phase == Phase.RECOVER_REDUCER and state.recovery_id == 1
    assert [a for a in actions if isinstance(a, Restart)] == [Restart("reducer-1", 1)]
    # only registered reducers are told now; the replacement is told when it says hello
    assert sends(actions) == [("reducer-0", m.Recovery(C, 1, 0))]
    w = state.worker("reducer-1")
    assert not w.registered and w.deadline == pytest.approx(2.01 + 2.0 + 3.0)


def test_restarted_worker_gets_a_fresh_deadline_and_old_incarnations_are_ignored():
    state = fresh()
    state, _ = step(state, WorkerExited("mapper-0", 0, 1.0))
    assert state.worker("mapper-0").incarnation == 1
    state, actions = run(state, *alive(state, 2.5), Tick(2.9))
    assert not [a for a in actions if isinstance(a, Restart)]  # not declared dead again
    # a late heartbeat of the killed incarnation neither registers nor extends anything
    before = state.worker("mapper-0")
    state, actions = step(state, rx(m.Heartbeat("mapper-0", 0, 0, 5, True), 3.0))
    assert state.worker("mapper-0") == before and actions == []
    # its late exit notification is not a new failure
    same, actions = step(state, WorkerExited("mapper-0", 0, 3.0))
    assert same == state and actions == []


def test_hello_from_replacement_during_reducer_recovery_gets_recovery_message():
    state, _ = step(fresh(), WorkerExited("reducer-0", 0, 1.0))
    state, actions = step(state, rx(m.Hello("reducer-0", 1, 99, 7000), 1.3))
    assert sends(actions) == [("reducer-0", m.Recovery(C, 1, 0))]
    state, _ = step(fresh(), WorkerExited("mapper-0", 0, 1.0))
    state, actions = step(state, rx(m.Hello("mapper-0", 1, 99, 0), 1.3))
    assert actions == []  # mappers are told in RECOVER_MAPPER, not before


# -- recovery ------------------------------------------------------------------------------------------
def test_recovery_goes_reducers_then_mappers_then_back_to_cp():
    state = in_checkpoint(1.0)
    state, _ = run(state, *acks(1, 0, 1.1))  # checkpoint 1 complete
    state, actions = step(state, WorkerExited("mapper-1", 0, 1.5))
    assert state.phase == Phase.RECOVER_REDUCER and state.pending.checkpoint_id == 1
    assert sends(actions) == [(w, m.Recovery(C, 1, 1)) for w in REDUCERS]
    state, actions = run(state, rx(m.RecoveryAck("mapper-0", 1, 1, 4, ""), 1.6),  # mappers not asked yet
                         rx(m.RecoveryAck("reducer-0", 1, 1, 0, ""), 1.6))
    assert state.phase == Phase.RECOVER_REDUCER and actions == []
    state, actions = step(state, rx(m.RecoveryAck("reducer-1", 1, 1, 0, ""), 1.7))
    assert state.phase == Phase.RECOVER_MAPPER
    assert sends(actions) == [("mapper-0", m.Recovery(C, 1, 1))]  # mapper-1 not registered yet
    state, actions = step(state, rx(m.Hello("mapper-1", 1, 5, 0), 1.8))
    assert sends(actions) == [("mapper-1", m.Recovery(C, 1, 1))]
    state, _ = run(state, rx(m.RecoveryAck("mapper-0", 1, 1, 40, ""), 1.9))
    state, actions = step(state, rx(m.RecoveryAck("mapper-1", 1, 1, 33, ""), 2.0))
    assert state.phase == Phase.CP and state.pending is None and actions == []
    assert state.files_done == 73 and state.next_cp_at == pytest.approx(3.0)
    state, actions = run(state, *alive(state, 2.0), Tick(3.0))
    assert sends(actions) == [(w, m.Checkpoint(C, 2, 1, False, 1)) for w in MAPPERS]


def test_recovery_without_a_completed_checkpoint_rolls_back_to_the_beginning():
    state = in_checkpoint(1.0)
    state, _ = run(state, *acks(1, 0, 1.1, who=ALL[:3]))  # incomplete
    state, actions = step(state, WorkerExited("reducer-1", 0, 1.2))
    assert state.pending.checkpoint_id == 0 and state.completed_id == 0
    assert sends(actions) == [("reducer-0", m.Recovery(C, 1, 0))]


def test_stale_acks_from_before_a_recovery_are_ignored():
    state = in_checkpoint(1.0)
    state, _ = run(state, *acks(1, 0, 1.1, who=ALL[:3]))
    state, _ = step(state, WorkerExited("mapper-0", 0, 1.2))
    state, _ = step(state, rx(m.Hello("mapper-0", 1, 5, 0), 1.3))
    state = recovered(state, 1.4)
    state, actions = run(state, *alive(state, 1.9), Tick(2.4))
    assert sends(actions) == [(w, m.Checkpoint(C, 2, 1, False, 0)) for w in MAPPERS]  # id 1 not reused
    # the late ack of abandoned checkpoint 1, and acks of checkpoint 2 under the old recovery id
    state, _ = run(state, *acks(1, 0, 2.5, who=["reducer-1"]), *acks(2, 0, 2.5))
    assert state.pending.waiting == frozenset(ALL) and state.completed_id == 0
    state, _ = run(state, *acks(2, 1, 2.6))
    assert state.completed_id == 2
    # stale recovery acks change nothing either
    same, actions = run(state, rx(m.RecoveryAck("reducer-0", 0, 0, 0, "")), rx(m.RecoveryAck("mapper-0", 1, 0, 0, "")))
    assert same == state and actions == []


def test_second_failure_during_recovery_starts_a_newer_one_to_the_same_checkpoint():
    state = in_checkpoint(1.0)
    state, _ = run(state, *acks(1, 0, 1.1))
    state, _ = step(state, WorkerExited("mapper-0", 0, 1.2))
    state, _ = run(state, rx(m.RecoveryAck("reducer-0", 1, 1, 0, ""), 1.3))
    state, actions = step(state, WorkerExited("reducer-1", 0, 1.4))
    assert state.phase == Phase.RECOVER_REDUCER and state.recovery_id == 2 and state.pending.checkpoint_id == 1
    assert Restart("reducer-1", 1) in actions
    assert sends(actions) == [("reducer-0", m.Recovery(C, 2, 1))]
    # reducer-0's ack for recovery 1 does not count for recovery 2
    state, _ = run(state, rx(m.RecoveryAck("reducer-0", 1, 1, 0, ""), 1.5))
    assert state.pending.waiting == frozenset(REDUCERS)
    # a failure during RECOVER_MAPPER too
    state, _ = run(state, rx(m.Hello("reducer-1", 1, 1, 7000), 1.5),
                   *[rx(m.RecoveryAck(w, 2, 1, 0, ""), 1.6) for w in REDUCERS])
    assert state.phase == Phase.RECOVER_MAPPER
    state, actions = step(state, WorkerExited("mapper-1", 0, 1.7))
    assert state.phase == Phase.RECOVER_REDUCER and state.recovery_id == 3
    state, _ = run(state, rx(m.Hello("mapper-0", 1, 1, 0)), rx(m.Hello("mapper-1", 1, 1, 0)))
    state = recovered(state, 1.8)
    assert state.recovery_id == 3 and state.completed_id == 1


def test_recovery_messages_are_resent_until_acked_and_duplicates_are_harmless():
    state, _ = step(fresh(), WorkerExited("mapper-0", 0, 1.0))
    state, _ = run(state, rx(m.RecoveryAck("reducer-0", 1, 0, 0, ""), 1.1))
    state, actions = step(state, Tick(1.5))
    assert sends(actions) == [("reducer-1", m.Recovery(C, 1, 0))]
    state, _ = run(state, rx(m.RecoveryAck("reducer-0", 1, 0, 0, ""), 1.6))  # duplicate ack
    assert state.pending.waiting == {"reducer-1"}


def test_unreadable_checkpoint_fails_the_job_with_the_reason():
    state = in_checkpoint(1.0)
    state, _ = run(state, *acks(1, 0, 1.1))
    state, _ = step(state, WorkerExited("reducer-0", 0, 1.2))
    state, actions = step(state, rx(m.RecoveryAck("reducer-1", 1, 1, 0, "checkpoint 1 of reducer-1 is corrupt"), 1.3))
    assert state.phase == Phase.EXITING and "corrupt" in state.outcome
    assert sends(actions, m.Exit) == [(w, m.Exit(C)) for w in ALL]
    finish = [a for a in actions if isinstance(a, Finish)]
    assert finish == [Finish(False, 1, "reducer-1 could not roll back to checkpoint 1: checkpoint 1 of reducer-1 is corrupt")]


# -- LAST_CP and EXITING ---------------------------------------------------------------------------------
def test_done_mappers_lead_to_the_final_checkpoint_then_exit():
    state = fresh()
    state, actions = run(state, rx(m.Done("mapper-0", 0, 10), 0.2))
    assert state.phase == Phase.CP and actions == []
    state, actions = step(state, rx(m.Done("mapper-1", 0, 12), 0.3))
    assert state.phase == Phase.LAST_CP
    assert sends(actions) == [(w, m.Checkpoint(C, 1, 0, True, 0)) for w in MAPPERS]
    state, actions = run(state, *acks(1, 0, 0.4, who=ALL[:3], last=True), *acks(1, 0, 0.4))  # regular acks: wrong kind
    assert state.phase == Phase.LAST_CP and actions == []
    state, actions = run(state, *acks(1, 0, 0.5, who=ALL[3:], last=True))
    assert state.phase == Phase.EXITING and state.outcome == "" and state.completed_id == 1
    assert sends(actions) == [(w, m.Exit(C)) for w in ALL]
    assert [a for a in actions if isinstance(a, Finish)] == [Finish(True, 1)]


def test_done_via_heartbeat_counts_when_the_done_message_was_lost():
    state = fresh()
    state, _ = run(state, rx(m.Heartbeat("mapper-0", 0, 0, 10, True), 0.2),
                   rx(m.Heartbeat("mapper-1", 0, 0, 12, True), 0.2))
    assert state.phase == Phase.LAST_CP and state.files_done == 22


def test_done_from_before_the_current_recovery_does_not_count():
    state, _ = step(fresh(), WorkerExited("reducer-0", 0, 0.1))
    state, _ = run(state, rx(m.Hello("reducer-0", 1, 1, 7000), 0.1))
    state = recovered(state, 0.2)
    state, actions = run(state, rx(m.Done("mapper-0", 0, 10)), rx(m.Done("mapper-1", 0, 10)),
                         rx(m.Heartbeat("mapper-1", 0, 0, 10, True)))
    assert state.phase == Phase.CP and not state.worker("mapper-0").done
    state, _ = run(state, rx(m.Done("mapper-0", 1, 10)), rx(m.Done("mapper-0", 1, 10)))  # duplicate done
    assert state.phase == Phase.CP
    state, _ = run(state, rx(m.Done("mapper-1", 1, 10)))
    assert state.phase == Phase.LAST_CP


def test_final_checkpoint_waits_for_the_pending_regular_one():
    state = in_checkpoint(1.0)
    state, actions = run(state, rx(m.Done("mapper-0", 0, 3), 1.1), rx(m.Done("mapper-1", 0, 3), 1.1))
    assert state.phase == Phase.CP and actions == []
    state, actions = run(state, *acks(1, 0, 1.2))
    assert state.phase == Phase.LAST_CP and state.completed_id == 1
    assert sends(actions) == [(w, m.Checkpoint(C, 2, 0, True, 1)) for w in MAPPERS]


def test_failure_during_the_last_checkpoint_recovers_then_redoes_it_with_a_new_id():
    state = fresh()
    state, _ = run(state, rx(m.Done("mapper-0", 0, 3)), rx(m.Done("mapper-1", 0, 3)))
    state, _ = run(state, *acks(1, 0, 0.1, who=["mapper-0"], last=True))
    state, actions = step(state, WorkerExited("reducer-1", 0, 0.2))
    assert state.phase == Phase.RECOVER_REDUCER and state.pending.checkpoint_id == 0
    assert not any(w.done for w in state.workers)
    state, _ = step(state, rx(m.Hello("reducer-1", 1, 1, 7000), 0.3))
    state = recovered(state, 0.4)
    state, actions = run(state, *acks(1, 0, 0.5, last=True))  # the abandoned final checkpoint
    assert state.phase == Phase.CP and actions == []
    state, actions = run(state, rx(m.Done("mapper-0", 1, 3)), rx(m.Done("mapper-1", 1, 3)))
    assert sends(actions) == [(w, m.Checkpoint(C, 2, 1, True, 0)) for w in MAPPERS]
    state, actions = run(state, *acks(2, 1, 0.6, last=True))
    assert state.phase == Phase.EXITING and [a for a in actions if isinstance(a, Finish)] == [Finish(True, 2)]


def test_final_checkpoint_is_resent():
    state = fresh()
    state, _ = run(state, rx(m.Done("mapper-0", 0, 3)), rx(m.Done("mapper-1", 0, 3)))
    state, actions = step(state, Tick(0.6))
    assert sorted(sends(actions)) == [(w, m.Checkpoint(C, 1, 0, True, 0)) for w in ALL]


def test_nothing_happens_after_exiting():
    state = fresh()
    state, _ = run(state, rx(m.Done("mapper-0", 0, 3)), rx(m.Done("mapper-1", 0, 3)), *acks(1, 0, 0.1, last=True))
    assert state.phase == Phase.EXITING
    same, actions = run(state, WorkerExited("mapper-0", 0, 0.2), Tick(100.0), rx(m.Done("mapper-0", 0, 3)))
    assert same == state and actions == []


def test_several_workers_failing_at_once_make_one_recovery():
    state = fresh()
    state, actions = step(state, Tick(2.5))  # nobody sent a heartbeat
    assert state.recovery_id == 1
    assert sorted(a.worker for a in actions if isinstance(a, Restart)) == sorted(ALL)
    assert sends(actions) == []  # nobody registered; each gets it on hello

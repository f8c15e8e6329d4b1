"""The phase machine on a lossy network: every coordinator message that can be
lost is repeated until acknowledged, every duplicate or late one changes
nothing, and a whole job driven through a seeded channel that loses 20%,
duplicates 5% and reorders 10% of the messages in both directions finishes
with a complete final checkpoint -- also with a failure during it."""
from __future__ import annotations

import random

import pytest
from test_phases import ALL, MAPPERS, REDUCERS, T, acks, alive, fresh, in_checkpoint, run, rx, sends

import message as m
from coordinator.phases import Finish, Phase, State, Tick, WorkerExited

pytestmark = [pytest.mark.stream, pytest.mark.timeout(60)]


def test_a_lost_checkpoint_request_is_repeated_to_whoever_has_not_acked():
    state = in_checkpoint(now=1.0)
    cp = state.pending.checkpoint_id
    state, _ = run(state, *acks(cp, 0, 1.1, who=["mapper-1", "reducer-0", "reducer-1"]))
    state, actions = run(state, *alive(state, 1.2), Tick(1.2))
    assert sends(actions, m.Checkpoint) == []  # not yet: resend_timeout_s has not passed
    state, actions = run(state, *alive(state, 1.6), Tick(1.6))
    assert [to for to, _ in sends(actions, m.Checkpoint)] == ["mapper-0"]
    state, _ = run(state, *acks(cp, 0, 1.7, who=["mapper-0"]))
    assert state.completed_id == cp and state.pending is None


def test_a_duplicated_ack_counts_once():
    state = in_checkpoint(now=1.0)
    cp = state.pending.checkpoint_id
    state, _ = run(state, *acks(cp, 0, 1.1, who=["mapper-0"] * 3 + ["reducer-0"] * 2))
    assert state.pending.waiting == {"mapper-1", "reducer-1"} and state.completed_id == 0


def test_lost_recovery_requests_are_repeated_and_late_acks_of_older_recoveries_ignored():
    state, _ = run(in_checkpoint(now=1.0), *alive(in_checkpoint(1.0), 1.0), WorkerExited("mapper-0", 0, 1.1))
    assert state.phase == Phase.RECOVER_REDUCER and state.recovery_id == 1
    state, _ = run(state, rx(m.RecoveryAck("reducer-0", 1, 0, 0, ""), 1.2),
                   rx(m.RecoveryAck("reducer-1", 0, 0, 0, ""), 1.2))  # a late ack of recovery 0
    assert state.pending.waiting == {"reducer-1"}
    state, actions = run(state, *alive(state, 1.7), Tick(1.7))
    assert [(to, msg.recovery_id) for to, msg in sends(actions, m.Recovery)] == [("reducer-1", 1)]


def test_a_lost_hello_is_harmless_the_first_heartbeat_registers_the_replacement():
    state, _ = run(fresh(), WorkerExited("mapper-1", 0, 0.5))
    state, _ = run(state, *[rx(m.RecoveryAck(r, 1, 0, 0, ""), 0.6) for r in REDUCERS])
    assert state.phase == Phase.RECOVER_MAPPER and not state.worker("mapper-1").registered
    state, actions = run(state, rx(m.Heartbeat("mapper-1", 1, -1, 0, False), 0.7))  # its hello was lost
    assert state.worker("mapper-1").registered
    assert [(to, msg.recovery_id) for to, msg in sends(actions, m.Recovery)] == [("mapper-1", 1)]


def test_a_lost_done_is_repeated_by_every_heartbeat():
    state, _ = run(fresh(), *[rx(m.Heartbeat(w, 0, 0, 5, w.startswith("mapper")), 0.2) for w in ALL])
    assert state.phase == Phase.LAST_CP and state.pending.final
    state, actions = run(state, *alive(state, 0.8), Tick(0.8))
    assert {to for to, msg in sends(actions, m.Checkpoint) if msg.final} == set(ALL)  # reducers: repeat your ack


def test_a_lost_last_ack_repeats_the_final_checkpoint_then_exit_goes_to_everyone():
    state, _ = run(fresh(), *[rx(m.Done(w, 0, 5), 0.2) for w in MAPPERS])
    cp = state.pending.checkpoint_id
    state, _ = run(state, *acks(cp, 0, 0.3, who=ALL[:-1], last=True))
    state, actions = run(state, *alive(state, 0.9), Tick(0.9))
    assert [to for to, msg in sends(actions, m.Checkpoint)] == [ALL[-1]]
    state, actions = run(state, *acks(cp, 0, 1.0, who=[ALL[-1]], last=True))
    assert state.phase == Phase.EXITING and {to for to, _ in sends(actions, m.Exit)} == set(ALL)


# -- a whole job through a lossy channel -----------------------------------------------------------
class Workers:
    """Idealised workers: they do exactly what docs/protocol.md says, instantly;
    reducers take checkpoint N once every mapper has (markers travel on TCP)."""

    def __init__(self, files: int) -> None:
        self.rid = {w: 0 for w in ALL}
        self.inc = {w: 0 for w in ALL}
        self.cp: dict[str, tuple[int, bool]] = {w: (0, False) for w in ALL}
        self.pos = {w: 0 for w in MAPPERS}
        self.files = files

    def heartbeats(self) -> list[m.Message]:
        return [m.Heartbeat(w, self.inc[w], self.rid[w], self.pos.get(w, 0),
                            self.pos.get(w, -1) >= self.files) for w in ALL]

    def work(self) -> None:
        for w in MAPPERS:
            self.pos[w] = min(self.files, self.pos[w] + 1)

    def _ack(self, w: str) -> m.Message:
        cp, final = self.cp[w]
        return (m.LastCheckpointAck if final else m.CheckpointAck)(w, cp, self.rid[w])

    def deliver(self, to: str, msg: m.Message) -> list[m.Message]:
        if isinstance(msg, m.Recovery) and msg.recovery_id >= self.rid[to]:
            self.rid[to] = msg.recovery_id
            if to in self.pos:
                self.pos[to] = 0
            return [m.RecoveryAck(to, msg.recovery_id, msg.checkpoint_id, 0, "")]
        if not isinstance(msg, m.Checkpoint) or msg.recovery_id != self.rid[to]:
            return []
        if to in self.pos and msg.checkpoint_id >= self.cp[to][0]:
            self.cp[to] = (msg.checkpoint_id, msg.final)
            out = [self._ack(to)]
            if all(self.cp[w] == self.cp[to] for w in MAPPERS):  # aligned on every reducer
                for r in REDUCERS:
                    self.cp[r] = self.cp[to]
                    out.append(self._ack(r))
            return out
        return [self._ack(to)] if self.cp[to][0] == msg.checkpoint_id else []


def lossy(rng: random.Random, items: list, late: list) -> list:
    """Lose 20%, duplicate 5%, hold back 10% until the next round (reordering)."""
    out = late[:]
    late.clear()
    for item in items:
        r = rng.random()
        if r < 0.2:
            continue
        (late if r < 0.3 else out).append(item)
        if rng.random() < 0.05:
            out.append(item)
    rng.shuffle(out)
    return out


def drive(seed: int, fail_at: int | None = None) -> tuple[State, Finish | None]:
    rng, workers = random.Random(seed), Workers(files=40)
    state, now, up, down = fresh(timing=T), 0.0, [], []
    for tick in range(400):
        now += 0.1
        workers.work()
        events = [rx(msg, now) for msg in lossy(rng, workers.heartbeats() + up, down)]
        up = []
        if tick == fail_at:
            events.append(WorkerExited("mapper-1", 0, now))
        state, actions = run(state, *events, Tick(now))
        for a in actions:
            if isinstance(a, Finish):
                return state, a
            if hasattr(a, "incarnation") and a.worker in workers.inc:
                workers.inc[a.worker], workers.rid[a.worker] = a.incarnation, -1
        for to, msg in lossy(rng, sends(actions), []):
            up += workers.deliver(to, msg)
    return state, None


@pytest.mark.parametrize("seed", range(40))
def test_a_job_through_a_lossy_duplicating_reordering_channel_completes(seed):
    state, finish = drive(seed, fail_at=25 if seed % 2 else None)
    assert finish is not None and finish.ok, f"seed {seed}: stuck in {state.phase.name}, pending {state.pending}"
    assert finish.final_checkpoint_id == state.completed_id and state.recovery_id == seed % 2

"""DELIBERATELY BROKEN Lab 2 coordinator, for tests/test_grader.py: the grader
must fail it on the item 'stale_acks_ignored'.

The bug, as many first implementations have it: acks are kept per checkpoint
id (never per recovery id) and not forgotten at a recovery, and checkpoints
are numbered from the last completed one, so the id of an abandoned checkpoint
is used again after the recovery. An ack from before the recovery then counts
for the new checkpoint of the same id: it completes as soon as the remaining
workers ack, before the others have taken it -- "an ack from before a
recovery completed a checkpoint after it". A failure right then rolls back to
a checkpoint some workers never wrote (the job fails: checkpoint missing);
otherwise the run looks fine, and only the coordinator's trace shows it (the
rubric's check.stale_completions).
Everything else is the reference coordinator (coordinator/), with these two
functions of its phase machine replaced.
"""
from __future__ import annotations

import sys
from collections import defaultdict
from dataclasses import replace

from coordinator import __main__ as reference_main
from coordinator import phases

ACKED: dict[int, set[str]] = defaultdict(set)  # BUG: checkpoint id -> workers that ever acked it
_reference_ack = phases._on_checkpoint_ack
_reference_start = phases._start_checkpoint


def ack_by_id_only(state: phases.State, w: phases.Worker, msg, now: float) -> phases.Result:
    ACKED[msg.checkpoint_id].add(w.id)  # BUG: whatever recovery id the ack carries
    p = state.pending
    if state.phase not in (phases.Phase.CP, phases.Phase.LAST_CP) or p is None or p.checkpoint_id != msg.checkpoint_id:
        return state, []
    earlier = ACKED[msg.checkpoint_id] - {w.id}  # BUG: they may have acked an abandoned checkpoint of this id
    state = replace(state, pending=replace(p, waiting=p.waiting - earlier))
    return _reference_ack(state, w, replace(msg, recovery_id=state.recovery_id), now)


def ids_from_completed(state: phases.State, now: float, final: bool) -> phases.Result:
    # BUG: should take state.next_cp_id, which never repeats an id
    return _reference_start(replace(state, next_cp_id=state.completed_id + 1), now, final)


if __name__ == "__main__":
    phases._on_checkpoint_ack = ack_by_id_only
    phases._start_checkpoint = ids_from_completed
    sys.exit(reference_main.main())

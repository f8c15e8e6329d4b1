"""DELIBERATELY BROKEN Lab 2 coordinator, for tests/test_grader.py: the grader
must fail it on the item 'udp_duplicates'.

The bug: it counts acks instead of remembering who acked, so a checkpoint is
complete once as many acks arrived as there are workers. A duplicated
datagram (or an ack repeated after a resend) then stands in for a worker that
has not taken the checkpoint yet: the checkpoint is declared complete early,
and a failure right then would roll back to files some workers never wrote.
The table usually stays right; the coordinator's trace shows it every time
(the rubric's check.stale_completions).
Everything else is the reference coordinator (coordinator/), with this one
function of its phase machine replaced.
"""
from __future__ import annotations

import sys
from collections import Counter
from dataclasses import replace

from coordinator import __main__ as reference_main
from coordinator import phases

RECEIVED: Counter = Counter()  # BUG: (checkpoint id, recovery id) -> acks received, duplicates included
_reference_ack = phases._on_checkpoint_ack


def count_acks(state: phases.State, w: phases.Worker, msg, now: float) -> phases.Result:
    p = state.pending
    if p is None or msg.checkpoint_id != p.checkpoint_id or msg.recovery_id != state.recovery_id:
        return _reference_ack(state, w, msg, now)
    RECEIVED[(msg.checkpoint_id, msg.recovery_id)] += 1
    if RECEIVED[(msg.checkpoint_id, msg.recovery_id)] >= len(state.workers):  # BUG: enough acks, not everyone's
        state = replace(state, pending=replace(p, waiting=frozenset({w.id})))
    elif w.id not in p.waiting:
        return state, []
    return _reference_ack(state, w, msg, now)


if __name__ == "__main__":
    phases._on_checkpoint_ack = count_acks
    sys.exit(reference_main.main())

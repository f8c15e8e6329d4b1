"""DELIBERATELY BROKEN Lab 2 coordinator, for tests/test_grader.py: the grader
must fail it on the item 'udp_loss'.

The bug, as the course notes invite it ("UDP is delivered eventually"): a
checkpoint or recovery request is sent once and never again. On loopback
without injected faults nothing is ever lost and every other item passes;
once a datagram is lost, the checkpoint waits forever for an ack that never
comes and the job hangs until the grader's timeout.
Everything else is the reference coordinator (coordinator/), with this one
function of its phase machine replaced.
"""
from __future__ import annotations

import sys
from dataclasses import replace

from coordinator import __main__ as reference_main
from coordinator import phases


def never_resend(state: phases.State, now: float) -> phases.Result:
    assert state.pending is not None
    return replace(state, pending=replace(state.pending, sent_at=now)), []  # BUG: should repeat the request


if __name__ == "__main__":
    phases._resend = never_resend
    sys.exit(reference_main.main())

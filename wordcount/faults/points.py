"""The fault vocabulary: every name a fault flag may use, in closed lists.

Parsers (spec.py, flags.py), injectors (process.py, coordinator/injector.py),
help texts and docs all take their names from here, so a point added to a
part is added once and a typo in a flag is refused with the full list.

Process faults -- what a process does to itself at a named crash point:

* crash points per part, in the order they occur (seeded plans pick from these
  tuples by index, so the order is part of what makes a seed replay);
* actions: what happens at the point (`exit`, `hang`, `slow:SECONDS`);
* logical point kinds: the steps of the Lab 2 protocol at which the
  coordinator SIGKILLs a worker (--chaos / --kill-at).

Network faults -- what the network does to datagrams and connections
(netspec.py has their grammar, network.py injects them):

* NETWORK_KINDS: the faults a --net clause may name, and partition, which
  --partition names;
* which message kinds a clause may select are message.TYPES.
"""
from __future__ import annotations

from dataclasses import dataclass

# -- actions -------------------------------------------------------------------------------------
EXIT = "exit"  # os._exit(CRASH_EXIT): no cleanup, like a SIGKILL
HANG = "hang"  # SIGSTOP itself: alive but silent, only missed heartbeats reveal it
SLOW = "slow"  # stall SECONDS at every arrival from the K-th on: a straggler
ACTIONS = (EXIT, HANG, SLOW)
ACTION_USAGE = "exit, hang, slow:SECONDS"

# -- crash points ----------------------------------------------------------------------------------
WORKER_POINTS = ("after_read", "mid_count", "before_commit", "after_commit")
MAPPER_POINTS = ("after_first_file", "before_forward", "after_forward", "on_final", "on_recovery")
REDUCER_POINTS = ("after_first_marker", "after_snapshot", "on_recovery", "corrupt_completed", "lose_completed")
# Reducer points that first damage the file of the last completed checkpoint:
# they act once, so a straggler's repeated stall makes no sense there.
DAMAGE_POINTS = ("corrupt_completed", "lose_completed")

WHEN: dict[str, str] = {
    "after_read": "an entry read, not yet counted",
    "mid_count": "half of a file counted (the counts are lost)",
    "before_commit": "a batch counted, not yet committed",
    "after_commit": "a batch committed",
    "after_first_file": "after sending a file (the K-th; by default the first; in a group of small files: after it)",
    "before_forward": "checkpoint file written, marker not yet forwarded (reducers stay aligning)",
    "after_forward": "markers forwarded, ack not sent",
    "on_final": "on receiving the final checkpoint",
    "on_recovery": "on receiving a recovery message (a failure during recovery)",
    "after_first_marker": "first marker of a checkpoint arrived: mid-alignment",
    "after_snapshot": "snapshot written, ack not sent",
    "corrupt_completed": "damages its file of the last completed checkpoint, then acts",
    "lose_completed": "deletes its file of the last completed checkpoint, then acts",
}


@dataclass(frozen=True)
class Part:
    """The crash points of one kind of process and the actions it supports."""

    name: str
    points: tuple[str, ...]
    actions: tuple[str, ...]

    def actions_at(self, point: str) -> tuple[str, ...]:
        return tuple(a for a in self.actions if not (point in DAMAGE_POINTS and a == SLOW))


# A Lab 1 worker may not hang: the client waits for every worker process to
# exit and has no heartbeats, so a stopped worker would stall the job forever.
LAB1_WORKER = Part("worker", WORKER_POINTS, (EXIT, SLOW))
MAPPER = Part("mapper", MAPPER_POINTS, ACTIONS)
REDUCER = Part("reducer", REDUCER_POINTS, ACTIONS)
STREAM_PARTS = {MAPPER.name: MAPPER, REDUCER.name: REDUCER}

# -- logical points of the Lab 2 protocol (--chaos, --kill-at WORKER@KIND:N) ---------------------
# Counts, not ids, so a point means the same step of the protocol even for a
# coordinator whose checkpoint ids are off; for the reference the N-th
# checkpoint sent has id N and the N-th recovery id N.
LOGICAL_KINDS: dict[str, str] = {
    "checkpoint": "when the coordinator sends its N-th checkpoint (the victim dies during it)",
    "completed": "right after the N-th checkpoint completes (recovery rolls back to it)",
    "recovery": "when the N-th recovery starts (a failure during recovery)",
    "files": "once the coordinator has seen N files done (the mappers' positions added up)",
}

# -- who a timed kill (--kill WHO --every S) may name besides worker ids --------------------------
KILL_GROUPS = ("mapper", "reducer", "any", "all")

# -- network faults (--net, --partition) ------------------------------------------------------------
LOSS, DUP, REORDER, DELAY, PARTITION = "loss", "dup", "reorder", "delay", "partition"
DATAGRAM_FAULTS = (LOSS, DUP, REORDER, DELAY)  # --net clauses; delay in seconds, the others probabilities
NETWORK_KINDS: tuple[str, ...] = (*DATAGRAM_FAULTS, PARTITION)
NET_WHO = ("coordinator", "worker", "mapper", "reducer")  # besides worker ids, what to= / from= may name

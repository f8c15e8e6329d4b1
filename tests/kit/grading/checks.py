"""Protocol checks computed from a run's trace, for expectations such as
`"check.stale_completions": "== 0"` in the rubric.

A correct table alone does not prove a protocol rule held: a coordinator that
counts stale acks completes checkpoints too early, yet most runs still end
with the right table. The trace shows it every time, so these checks read the
events the coordinator writes (wordcount/trace.py) and count violations. Each
check returns the number of violations, or None when the trace lacks what it
needs (a swapped part that traces less); the grader then notes "not checked".
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable, Iterable, Optional

from wordcount.ids import all_names

Events = list[dict[str, Any]]
CHECKPOINT_ACKS = ("checkpoint_ack", "last_checkpoint_ack")


def _workers(events: Events) -> set[str] | None:
    """Every worker id of the job, from the launcher's run_start event."""
    start = next((e for e in events if e.get("ev") == "run_start" and "mappers" in e), None)
    if start is None:
        return None
    return set(all_names(start["mappers"], start["reducers"]))


def stale_completions(events: Events) -> int | None:
    """Checkpoints declared complete without an ack from every worker under the
    recovery id of that moment (docs/lab2.md: "an ack from before a rollback
    cannot complete a checkpoint after it")."""
    workers = _workers(events)
    acks = [e for e in events if e.get("ev") == "ack" and e.get("kind") in CHECKPOINT_ACKS]
    if workers is None or any("rid" not in e for e in acks):
        return None
    rid = 0
    acked: dict[tuple[int, int], set[str]] = defaultdict(set)  # (checkpoint, recovery id) -> who acked
    violations = 0
    for e in _coordinator(events):
        if e["ev"] == "recovery_started":
            rid = e["rid"]
        elif e["ev"] == "ack" and e.get("kind") in CHECKPOINT_ACKS and e["rid"] == rid:
            acked[(e["cp"], rid)].add(e["src"])
        elif e["ev"] == "checkpoint_complete" and not workers <= acked[(e["cp"], rid)]:
            violations += 1
    return violations


def _coordinator(events: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    return (e for e in events if e.get("proc") == "coordinator")


CHECKS: dict[str, Callable[[Events], Optional[int]]] = {
    "stale_completions": stale_completions,
}

"""The rubric's budgets (rubric.Budget): CPU time and wall time an item's job may use.

A correct table does not show a part that burns a core polling while it
waits, or one that is right but needlessly slow; the budgets do. CPU time is
the whole job's (kit.run reaps the client with wait4, and the client reaps
everything it started), so it holds whatever part is swapped in.
"""
from __future__ import annotations

from typing import Any

from kit.grading.rubric import Budget, Item
from kit.run import Finished
from wordcount.record import RunRecord


def processes_started(events: list[dict[str, Any]] | None) -> int | None:
    """The job's Python processes: the client plus every worker, coordinator or
    replacement a supervisor spawned (Redis and its restarts cost little CPU
    and are left to a budget's base). None without a trace."""
    if events is None:
        return None
    return 1 + sum(1 for e in events if e.get("ev") == "spawn" and e.get("target") != "redis")


def judge_budgets(item: Item, done: Finished, record: RunRecord, events: list[dict[str, Any]] | None,
                  serial_s: float, timeout_scale: float, out: Any) -> None:
    """CPU time and wall time within the item's budgets (rubric `budgets`). The
    wall-time bound stretches with --jobs-timeout-scale like every timeout; CPU
    time does not depend on how busy the machine is, so its bound does not."""
    processes = processes_started(events)
    for budget in item.budgets:
        if budget.name == "redis_commands":
            judge_requests(budget, record, out)
            continue
        if budget.per_process and processes is None:
            out.notes.append(f"budget {budget.name} not checked: the run left no trace file")
            continue
        limit = budget.seconds(processes or 0, serial_s)
        if budget.name == "cpu_s":
            used, what = done.cpu_s, "CPU time (all of the job's processes)"
        else:
            used, what = record.number("elapsed_s"), "wall time"
            limit *= timeout_scale
        if not isinstance(used, (int, float)):
            out.notes.append(f"budget {budget.name} not checked: nothing measured it")
            continue
        out.details[f"{budget.name}_budget"] = round(limit, 2)
        if used > limit:
            out.reasons.append(
                f"over budget: {what} {used:.2f}s, allowed {limit:.2f}s "
                f"({budget.base:g} + {budget.per_process:g} x {processes or 0} processes + {budget.serial:g} x "
                f"serial {serial_s:.2f}s): {BUDGET_HINTS[budget.name]}")


def judge_requests(budget: Budget, record: RunRecord, out: Any) -> None:
    """Requests to the private Redis (read events, which leave out what a Lua
    function runs) within work plus waiting: a worker that blocks on XREADGROUP
    sends a few a second while it waits, one that polls sends hundreds."""
    used, files = record.number("redis_commands"), record.number("files")
    elapsed, workers = record.number("elapsed_s"), record.number("workers")
    if used is None or files is None or elapsed is None or workers is None:
        out.notes.append("budget redis_commands not checked: the run record lacks what it needs")
        return
    limit = budget.requests(int(files), elapsed * workers)
    out.details["redis_commands"] = int(used)
    out.details["redis_commands_budget"] = round(limit)
    if used > limit:
        out.reasons.append(
            f"over budget: {int(used)} requests to Redis, allowed {limit:.0f} ({budget.base:g} + "
            f"{budget.per_file:g} x {int(files)} files + {budget.per_worker_s:g} x {elapsed:.1f}s x "
            f"{int(workers)} workers): the workers poll Redis (XREADGROUP without BLOCK, or a loop without "
            "a wait) instead of blocking until an entry comes or the claim timeout passes")


BUDGET_HINTS = {
    "cpu_s": "a part spends CPU while it should wait (polling Redis or a socket without blocking, a loop that "
             "spins instead of sleeping until its timeout)",
    "elapsed_s": "the job is correct but slow to finish: a part stalls or spins where it should move on "
                 "(waits for a timeout it need not, retries too slowly, blocks the others)",
}

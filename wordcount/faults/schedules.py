"""When the Lab 2 coordinator SIGKILLs whom: timed and logical kill schedules.
One kind per run (flags.py refuses both at once).

Timed -- by the clock:

    --kill WHO --every S [--seed N] [--kill-count K]

WHO is a worker id (mapper-0, reducer-1, ...), several ids joined by commas
(killed together), or mapper / reducer / any (one chosen at random) or all.
The first kill comes S seconds after every worker has started, the next S
seconds after that, and so on; the choices come from random.Random(seed).
The same seed gives the same victims, but at wall-clock times, so what the
job was doing at each kill varies from run to run.

Logical -- at steps of the protocol:

    --chaos SEED   or   --kill-at WORKER@KIND:N ...

Each kill fires when the coordinator's phase machine reaches a logical point
(points.LOGICAL_KINDS) -- "during the 3rd checkpoint", "right after the 2nd
completed checkpoint", "when the 1st recovery starts", "once 12 files are
done" -- so the same plan on the same data kills the same worker at the same
step, whatever the timing. --chaos derives the plan from the seed
(plans.py); --kill-at spells it out. Kills fire in order: each is armed once
the previous one has fired. The coordinator fires kills only while work is
pending (before the job's exit phase).
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from wordcount.faults.points import LOGICAL_KINDS
from wordcount.ids import WorkerId


# -- timed ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KillSpec:
    who: str
    every_s: float
    seed: int = 0
    count: int = 0  # 0 = no limit

    def to_json(self) -> dict:
        return {"who": self.who, "every_s": self.every_s, "seed": self.seed, "count": self.count}


class KillSchedule:
    """When to kill whom by the clock; the coordinator asks `due` on every tick."""

    def __init__(self, spec: KillSpec, ids: list[str], start: float) -> None:
        self.spec = spec
        self.ids = ids
        self.rng = random.Random(spec.seed)
        self.next_at = start + spec.every_s
        self.fired = 0

    def due(self, now: float) -> bool:
        return (not self.spec.count or self.fired < self.spec.count) and now >= self.next_at

    def victims(self) -> list[str]:
        """Pick the workers for the kill that is due (consumes randomness)."""
        who = self.spec.who
        if who == "all":
            return list(self.ids)
        if who in ("mapper", "reducer"):
            return [self.rng.choice([w for w in self.ids if WorkerId.parse(w).kind == who])]
        if who == "any":
            return [self.rng.choice(self.ids)]
        return who.split(",")

    def done_one(self, now: float) -> None:
        self.fired += 1
        self.next_at = now + self.spec.every_s


# -- logical ----------------------------------------------------------------------------------------
# phase-machine transitions (coordinator.changes) -> the counter they advance
COUNTED = {"checkpoint_sent": "checkpoint", "checkpoint_complete": "completed", "recovery_started": "recovery"}


@dataclass(frozen=True)
class Point:
    kind: str  # a key of LOGICAL_KINDS
    n: int

    def __str__(self) -> str:
        return f"{self.kind}:{self.n}"

    @classmethod
    def parse(cls, text: str) -> Point:
        kind, _, n = text.partition(":")
        if kind not in LOGICAL_KINDS or not (n.isascii() and n.isdigit()) or int(n) < 1:
            raise ValueError(text)
        return cls(kind, int(n))


@dataclass(frozen=True)
class LogicalKill:
    victim: str  # a worker id
    at: Point

    def __str__(self) -> str:
        return f"{self.victim}@{self.at}"

    def to_json(self) -> dict:
        return {"victim": self.victim, "at": str(self.at)}


@dataclass(frozen=True)
class ChaosPlan:
    """The logical kills of one run, in firing order; `seed` is None for --kill-at."""

    seed: int | None
    kills: tuple[LogicalKill, ...]

    def to_json(self) -> dict:
        return {"seed": self.seed, "schedule": [k.to_json() for k in self.kills]}

    @classmethod
    def from_json(cls, doc: dict) -> ChaosPlan:
        return cls(doc["seed"], tuple(LogicalKill(k["victim"], Point.parse(k["at"])) for k in doc["schedule"]))

    def describe(self) -> str:
        return ", ".join(map(str, self.kills))


class LogicalKills:
    """Arms the plan's kills one at a time and says when the armed one is due.

    The coordinator calls `due` after every step of the phase machine with the
    transitions that step made (`coordinator.changes`) and the files done;
    the counters here turn those into "the N-th checkpoint sent" and so on.
    """

    def __init__(self, plan: ChaosPlan) -> None:
        self.waiting = list(plan.kills)
        self.counts = {kind: 0 for kind in LOGICAL_KINDS}

    def due(self, transitions: list[str], files_done: int) -> LogicalKill | None:
        """The armed kill if this step reached its point (then the next one is armed)."""
        for name in transitions:
            if name in COUNTED:
                self.counts[COUNTED[name]] += 1
        self.counts["files"] = files_done
        if self.waiting and self.counts[self.waiting[0].at.kind] >= self.waiting[0].at.n:
            return self.waiting.pop(0)
        return None

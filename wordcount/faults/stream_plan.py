"""Crash injection for the streaming job: SIGKILLs on a schedule, and the
per-worker crash points handed to first incarnations.

Two kinds of schedule, one per run:

    --kill WHO --every S [--seed N] [--kill-count K]      (by the clock)

WHO is a worker id (mapper-0, reducer-1, ...), several ids joined by commas
(killed together), or mapper / reducer / any (one chosen at random) or all.
The first kill comes S seconds after every worker has started, the next S
seconds after that, and so on; the choices come from random.Random(seed).
The same seed gives the same victims, but at wall-clock times, so what the
job was doing at each kill varies from run to run.

    --chaos SEED   or   --kill-at WORKER@POINT ...          (by logical point)

Each kill fires when the coordinator's phase machine reaches a logical point
-- "during the 3rd checkpoint", "right after the 2nd completed checkpoint",
"when the 1st recovery starts", "once 12 files are done" -- so the same seed
on the same data kills the same worker at the same step of the protocol,
whatever the timing. --chaos derives the plan from random.Random(SEED);
--kill-at spells it out. Kills fire in order: each is armed once the previous
one has fired. The coordinator fires kills only while work is pending
(before the job's exit phase).
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from wordcount.errors import UserError

GROUPS = ("mapper", "reducer", "any", "all")
MAPPER_POINTS = ("after_first_file", "before_forward", "after_forward", "on_final", "on_recovery")
REDUCER_POINTS = ("after_first_marker", "after_snapshot", "on_recovery", "corrupt_completed", "lose_completed")


def worker_ids(mappers: int, reducers: int) -> list[str]:
    return [f"mapper-{i}" for i in range(mappers)] + [f"reducer-{i}" for i in range(reducers)]


@dataclass(frozen=True)
class KillSpec:
    who: str
    every_s: float
    seed: int = 0
    count: int = 0  # 0 = no limit

    def to_json(self) -> dict:
        return {"who": self.who, "every_s": self.every_s, "seed": self.seed, "count": self.count}


def parse_kill(who: str | None, every: float | None, seed: int | None, count: int | None,
               mappers: int, reducers: int) -> KillSpec | None:
    """Validate the --kill flags against the topology; None when not asked for."""
    if who is None:
        if every is not None or count is not None:
            raise UserError("--every/--kill-count need --kill WHO")
        return None
    if every is None or every <= 0:
        raise UserError("--kill needs --every SECONDS (> 0)")
    if count is not None and count < 1:
        raise UserError("--kill-count must be >= 1")
    ids = worker_ids(mappers, reducers)
    if who not in GROUPS:
        for name in who.split(","):
            if name not in ids:
                raise UserError(f"--kill {who!r}: {name!r} is not a worker of this job; use one of "
                                f"{', '.join(ids)} (comma-separated), or {', '.join(GROUPS)}")
    return KillSpec(who, float(every), seed or 0, count or 0)


def parse_crash(specs: list[str], mappers: int, reducers: int) -> dict[str, str]:
    """--crash WORKER:POINT[=hang] flags -> {worker id: point spec}."""
    out: dict[str, str] = {}
    ids = worker_ids(mappers, reducers)
    for spec in specs:
        name, sep, point = spec.partition(":")
        base, _, how = point.partition("=")
        points = MAPPER_POINTS if name.startswith("mapper") else REDUCER_POINTS
        if not sep or name not in ids or base not in points or how not in ("", "hang"):
            raise UserError(
                f"bad --crash {spec!r}: use WORKER:POINT[=hang] with WORKER one of {', '.join(ids)}; "
                f"mapper points: {', '.join(MAPPER_POINTS)}; reducer points: {', '.join(REDUCER_POINTS)}")
        out[name] = point
    return out


class KillSchedule:
    """When to kill whom; the coordinator asks `due` on every tick."""

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
            return [self.rng.choice([w for w in self.ids if w.startswith(who)])]
        if who == "any":
            return [self.rng.choice(self.ids)]
        return who.split(",")

    def done_one(self, now: float) -> None:
        self.fired += 1
        self.next_at = now + self.spec.every_s


# -- kills at logical points (--chaos SEED, --kill-at WORKER@POINT) ---------------------------------
# What "KIND:N" means. Counts, not ids, so a point means the same step of the
# protocol even for a coordinator whose checkpoint ids are off; for the
# reference the N-th checkpoint sent has id N and the N-th recovery id N.
POINTS = {
    "checkpoint": "when the coordinator sends its N-th checkpoint (the victim dies during it)",
    "completed": "right after the N-th checkpoint completes (recovery rolls back to it)",
    "recovery": "when the N-th recovery starts (a failure during recovery)",
    "files": "once the coordinator has seen N files done (the mappers' positions added up)",
}
# phase-machine transitions (coordinator.changes) -> the counter they advance
COUNTED = {"checkpoint_sent": "checkpoint", "checkpoint_complete": "completed", "recovery_started": "recovery"}


@dataclass(frozen=True)
class Point:
    kind: str  # a key of POINTS
    n: int

    def __str__(self) -> str:
        return f"{self.kind}:{self.n}"

    @classmethod
    def parse(cls, text: str) -> "Point":
        kind, _, n = text.partition(":")
        if kind not in POINTS or not n.isdigit() or int(n) < 1:
            raise ValueError(text)
        return cls(kind, int(n))


@dataclass(frozen=True)
class LogicalKill:
    victim: str
    at: Point

    def __str__(self) -> str:
        return f"{self.victim}@{self.at}"

    def to_json(self) -> dict:
        return {"victim": self.victim, "at": str(self.at)}


@dataclass(frozen=True)
class ChaosPlan:
    """The kills of one run, in firing order; `seed` is None for --kill-at."""

    seed: int | None
    kills: tuple[LogicalKill, ...]

    def to_json(self) -> dict:
        return {"seed": self.seed, "schedule": [k.to_json() for k in self.kills]}

    @classmethod
    def from_json(cls, doc: dict) -> "ChaosPlan":
        return cls(doc["seed"], tuple(LogicalKill(k["victim"], Point.parse(k["at"])) for k in doc["schedule"]))

    def describe(self) -> str:
        return ", ".join(map(str, self.kills))


def stream_schedule(seed: int, mappers: int, reducers: int, total_files: int) -> ChaosPlan:
    """Two or three kills of random workers at random logical points, from `seed` alone.

    Every point is chosen so that it is still ahead when it is armed (the
    previous kill fired), assuming no other failures: the model below tracks
    how many checkpoints have been sent and completed at each kill (a kill
    during checkpoint N aborts it; every other checkpoint completes). A
    "files" point is only ever the first kill, and only recovery points follow
    it: the checkpoint it lands in depends on timing, so counting checkpoints
    after it would not repeat.
    """
    rng = random.Random(seed)
    ids = worker_ids(mappers, reducers)
    kills: list[LogicalKill] = []
    sent = completed = 0
    for k in range(rng.randint(2, 3)):
        if k == 0:
            kind = rng.choice(("checkpoint", "completed", "files"))
        elif kills[0].at.kind == "files":
            kind = "recovery"
        else:
            kind = rng.choice(("checkpoint", "completed", "recovery"))
        if kind == "checkpoint":
            n = sent + rng.randint(2 if k == 0 else 1, 3 if k == 0 else 2)
            completed, sent = completed + n - 1 - sent, n
        elif kind == "completed":
            n = completed + rng.randint(1, 2)
            sent, completed = sent + n - completed, n
        elif kind == "recovery":
            n = k  # the recovery the previous kill started
        else:
            n = rng.randint(1, max(1, total_files // 3))
        kills.append(LogicalKill(rng.choice(ids), Point(kind, n)))
    return ChaosPlan(seed, tuple(kills))


def parse_kill_at(specs: list[str], mappers: int, reducers: int) -> tuple[LogicalKill, ...]:
    """--kill-at WORKER@POINT flags, in order."""
    ids = worker_ids(mappers, reducers)
    kills = []
    for spec in specs:
        victim, sep, point = spec.partition("@")
        try:
            at = Point.parse(point)
        except ValueError:
            at = None
        if not sep or victim not in ids or at is None:
            raise UserError(f"bad --kill-at {spec!r}: use WORKER@KIND:N with WORKER one of {', '.join(ids)}, "
                            f"KIND one of {', '.join(POINTS)} and N >= 1 (e.g. mapper-0@completed:2)")
        kills.append(LogicalKill(victim, at))
    return tuple(kills)


def parse_chaos(seed: int | None, kill_at: list[str], clock_kills: bool, mappers: int, reducers: int,
                total_files: int) -> ChaosPlan | None:
    """The logical kill plan of --chaos SEED or --kill-at, checked; None when neither is given."""
    if seed is not None and kill_at:
        raise UserError("use --chaos SEED or --kill-at, not both")
    if (seed is not None or kill_at) and clock_kills:
        raise UserError("--kill kills by the clock, --chaos/--kill-at at logical points; use one of them")
    if seed is not None:
        return stream_schedule(seed, mappers, reducers, total_files)
    return ChaosPlan(None, parse_kill_at(kill_at, mappers, reducers)) if kill_at else None


class LogicalKills:
    """Arms the plan's kills one at a time and says when the armed one is due.

    The coordinator calls `due` after every step of the phase machine with the
    transitions that step made (`coordinator.changes`) and the files done;
    the counters here turn those into "the N-th checkpoint sent" and so on.
    """

    def __init__(self, plan: ChaosPlan) -> None:
        self.waiting = list(plan.kills)
        self.counts = {kind: 0 for kind in POINTS}

    def due(self, transitions: list[str], files_done: int) -> LogicalKill | None:
        """The armed kill if this step reached its point (then the next one is armed)."""
        for name in transitions:
            if name in COUNTED:
                self.counts[COUNTED[name]] += 1
        self.counts["files"] = files_done
        if self.waiting and self.counts[self.waiting[0].at.kind] >= self.waiting[0].at.n:
            return self.waiting.pop(0)
        return None

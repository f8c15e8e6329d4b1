"""Crash injection for the streaming job: a seeded schedule of SIGKILLs, and
the per-worker crash points handed to first incarnations.

    --kill WHO --every S [--seed N] [--kill-count K]

WHO is a worker id (mapper-0, reducer-1, ...), several ids joined by commas
(killed together), or mapper / reducer / any (one chosen at random) or all.
The first kill comes S seconds after every worker has started, the next S
seconds after that, and so on; the choices come from random.Random(seed), so
a run can be repeated. The coordinator fires kills only while work is
pending (before the job's exit phase).
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

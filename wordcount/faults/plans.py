"""Seeded chaos plans: one integer (--chaos SEED) turns into the faults of a run.

Both depend only on the seed and the job's shape, never on timing, so a failed
run replays with the command it prints. The random draws below are made in a
fixed order from the points' tuples (points.py): changing either changes what
an old seed means, which tests/test_faults.py pins.

Lab 1 (batch_schedule): which workers crash, at which point and on which
arrival (e.g. w1 at after_commit@2, its 2nd commit), and after how many
committed files the private Redis is SIGKILLed. (The Redis kill fires when the
client first sees the committed-file count reach the threshold; commits
racing with that observation can move the exact cut by a few files.)

Lab 2 (stream_schedule): two or three logical kills (schedules.ChaosPlan).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from wordcount.faults.points import WORKER_POINTS
from wordcount.faults.schedules import ChaosPlan, LogicalKill, Point
from wordcount.ids import all_names


@dataclass(frozen=True)
class BatchPlan:
    seed: int | None  # None: kills given by flags (--kill-redis-at), not drawn from a seed
    crashes: dict = field(default_factory=dict)  # worker name -> "point@k", a `crash` setting entry
    redis_kills_after: tuple = ()  # kill Redis once this many files are committed

    def to_json(self) -> dict:
        return {"seed": self.seed, "crashes": self.crashes, "redis_kills_after": list(self.redis_kills_after)}


def batch_schedule(seed: int, workers: int, total_files: int, can_kill_redis: bool) -> BatchPlan:
    """Crash about half the workers (at least one) and kill Redis twice if we own it."""
    rng = random.Random(seed)
    victims = sorted(rng.sample(range(workers), k=max(1, workers // 2)))
    crashes = {f"w{i}": f"{rng.choice(WORKER_POINTS)}@{rng.randint(1, 3)}" for i in victims}
    kills: tuple = ()
    if can_kill_redis and total_files > 2:
        kills = tuple(sorted(rng.sample(range(1, total_files), k=2)))
    return BatchPlan(seed, crashes, kills)


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
    ids = all_names(mappers, reducers)
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

"""Seeded crash schedules for the batch job, replayable by logical position.

`--chaos SEED` turns one integer into: which workers crash, at which point
and on which arrival (e.g. w1 at after_commit@2, its 2nd commit), and after
how many committed files the private Redis is SIGKILLed. The same seed on the
same data gives the same schedule, so a failing run replays with the command
it prints. (The Redis kill fires when the client first sees the committed-file
count reach the threshold; commits racing with that observation can move the
exact cut by a few files.)
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from wordcount.faults.process import WORKER_POINTS


@dataclass(frozen=True)
class Schedule:
    seed: int
    crashes: dict = field(default_factory=dict)  # worker name -> "point@k"
    redis_kills_after: tuple = ()  # kill Redis once this many files are committed

    def to_json(self) -> dict:
        return {"seed": self.seed, "crashes": self.crashes, "redis_kills_after": list(self.redis_kills_after)}


def batch_schedule(seed: int, workers: int, total_files: int, can_kill_redis: bool) -> Schedule:
    """Crash about half the workers (at least one) and kill Redis twice if we own it."""
    rng = random.Random(seed)
    victims = sorted(rng.sample(range(workers), k=max(1, workers // 2)))
    crashes = {f"w{i}": f"{rng.choice(WORKER_POINTS)}@{rng.randint(1, 3)}" for i in victims}
    kills: tuple = ()
    if can_kill_redis and total_files > 2:
        kills = tuple(sorted(rng.sample(range(1, total_files), k=2)))
    return Schedule(seed, crashes, kills)

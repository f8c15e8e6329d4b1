"""The fault flags of both labs, checked before anything starts.

    Lab 1   --crash NAME:POINT[@K][=ACTION]   --chaos SEED
    Lab 2   --crash WORKER:POINT[@K][=ACTION]
            --kill WHO --every S [--seed N] [--kill-count K]     (timed)
            --chaos SEED | --kill-at WORKER@KIND:N ...           (logical)

Every mistake is one UserError line naming the flag and the allowed values,
raised while the command line is read, not when a worker reaches its point.
"""
from __future__ import annotations

from wordcount.errors import UserError
from wordcount.faults.plans import stream_schedule
from wordcount.faults.points import KILL_GROUPS, LOGICAL_KINDS
from wordcount.faults.schedules import ChaosPlan, KillSpec, LogicalKill, Point
from wordcount.faults.spec import parse_batch, parse_stream, split_worker
from wordcount.ids import all_names


def _by_worker(flags: list[str]) -> dict[str, str]:
    """{WORKER: the rest, as written} of flags already checked."""
    return dict(split_worker(text) for text in flags)


def parse_batch_crashes(flags: list[str]) -> dict[str, str]:
    """Lab 1 --crash flags -> the `crash` setting {name: POINT[@K][=ACTION]}.

    Old spellings stay as written here: config.py rewrites them, with their
    warning, once the slow_s setting they may need is known.
    """
    for text in flags:
        parse_batch(text)
    return _by_worker(flags)


def parse_stream_crashes(flags: list[str], mappers: int, reducers: int) -> dict[str, str]:
    """Lab 2 --crash flags -> {worker id: POINT[@K][=ACTION]} for the job spec."""
    for text in flags:
        parse_stream(text, mappers, reducers)
    return _by_worker(flags)


def parse_timed(who: str | None, every: float | None, seed: int | None, count: int | None,
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
    ids = all_names(mappers, reducers)
    if who not in KILL_GROUPS:
        for name in who.split(","):
            if name not in ids:
                raise UserError(f"--kill {who!r}: {name!r} is not a worker of this job; use one of "
                                f"{', '.join(ids)} (comma-separated), or {', '.join(KILL_GROUPS)}")
    return KillSpec(who, float(every), seed or 0, count or 0)


def parse_kill_at(specs: list[str], mappers: int, reducers: int) -> tuple[LogicalKill, ...]:
    """--kill-at WORKER@KIND:N flags, in order."""
    ids = all_names(mappers, reducers)
    kills = []
    for spec in specs:
        victim, sep, point = spec.partition("@")
        try:
            at = Point.parse(point)
        except ValueError:
            at = None
        if not sep or victim not in ids or at is None:
            raise UserError(f"bad --kill-at {spec!r}: use WORKER@KIND:N with WORKER one of {', '.join(ids)}, "
                            f"KIND one of {', '.join(LOGICAL_KINDS)} and N >= 1 (e.g. mapper-0@completed:2)")
        kills.append(LogicalKill(victim, at))
    return tuple(kills)


def parse_logical(seed: int | None, kill_at: list[str], timed: bool, mappers: int, reducers: int,
                  total_files: int) -> ChaosPlan | None:
    """The logical kill plan of --chaos SEED or --kill-at, checked; None when neither is given.
    `timed`: --kill was given too (one kind of schedule per run)."""
    if seed is not None and kill_at:
        raise UserError("use --chaos SEED or --kill-at, not both")
    if (seed is not None or kill_at) and timed:
        raise UserError("--kill kills by the clock, --chaos/--kill-at at logical points; use one of them")
    if seed is not None:
        return stream_schedule(seed, mappers, reducers, total_files)
    return ChaosPlan(None, parse_kill_at(kill_at, mappers, reducers)) if kill_at else None

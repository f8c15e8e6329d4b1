"""One grammar for process faults in both labs:

    WORKER:POINT[@K][=ACTION]        ACTION: exit (default) | hang | slow:SECONDS

WORKER is a Lab 1 worker name (w0, w1.2, ...) or a Lab 2 worker id (mapper-0,
reducer-1, ...); POINT one of that part's crash points (points.py). The fault
acts on the K-th arrival at POINT (default the 1st) -- counting arrivals, not
time, is what lets a seeded run replay the same fault at the same step:

    exit       os._exit(75) at once, no cleanup: what a SIGKILL does
    hang       SIGSTOP itself: alive but silent (Lab 2 only: there only missed
               heartbeats reveal it; the Lab 1 client would wait forever)
    slow:S     stall S seconds at every arrival from the K-th on: a straggler

config.json takes the same spec split at the first colon:
{"crash": {"w1": "before_commit=slow:4"}}.

Deprecated, accepted for one release with one warning line each: the Lab 1
`NAME:slow` and `NAME:slow=S` (stall S, default the slow_s setting, before
every commit), now `NAME:before_commit=slow:S`.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Mapping

from wordcount.errors import UserError
from wordcount.faults.points import (
    ACTION_USAGE,
    EXIT,
    HANG,
    LAB1_WORKER,
    MAPPER_POINTS,
    REDUCER_POINTS,
    SLOW,
    STREAM_PARTS,
    WORKER_POINTS,
    Part,
)
from wordcount.ids import WorkerId, all_names

log = logging.getLogger(__name__)
OLD_SLOW = "slow"  # the deprecated Lab 1 spelling, 'NAME:slow[=SECONDS]'


@dataclass(frozen=True)
class FaultSpec:
    """One process fault: `action` at the `nth` arrival of `worker` at `point`."""

    worker: str
    point: str
    nth: int = 1
    action: str = EXIT
    seconds: float = 0.0  # the stall of `slow`

    @property
    def point_spec(self) -> str:
        """'POINT[@K][=ACTION]': the spec without its worker, as config.json and a
        Lab 2 worker's --crash take it."""
        text = self.point if self.nth == 1 else f"{self.point}@{self.nth}"
        if self.action == SLOW:
            return f"{text}={SLOW}:{_number(self.seconds)}"
        return f"{text}={HANG}" if self.action == HANG else text

    def __str__(self) -> str:
        return f"{self.worker}:{self.point_spec}"

    def fires(self, arrival: int) -> bool:
        """Whether arrival number `arrival` (1-based) triggers the action."""
        return arrival >= self.nth if self.action == SLOW else arrival == self.nth

    @property
    def doing(self) -> str:
        """'crashing', 'hanging', 'stalling 4s': for log lines."""
        if self.action == SLOW:
            return f"stalling {_number(self.seconds)}s"
        return "hanging" if self.action == HANG else "crashing"


def _number(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else repr(seconds)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"slow:SECONDS needs a number >= 0 (got {text!r})")
    return value


def _action(text: str) -> tuple[str, float]:
    name, colon, seconds = text.partition(":")
    if name == SLOW and colon:
        return SLOW, _seconds(seconds)
    if name in (EXIT, HANG) and not colon:
        return name, 0.0
    raise ValueError(f"{text!r} is not an action")


def parse_point_spec(worker: str, text: str, part: Part) -> FaultSpec:
    """'POINT[@K][=ACTION]' of `worker`, checked against `part`; ValueError says what is wrong."""
    head, eq, action_text = text.partition("=")
    point, sign, nth_text = head.partition("@")
    if point not in part.points:
        raise ValueError(f"{point!r} is not a {part.name} crash point")
    if sign and not (nth_text.isascii() and nth_text.isdigit() and int(nth_text) >= 1):
        raise ValueError("@K needs an integer K >= 1")
    action, seconds = _action(action_text) if eq else (EXIT, 0.0)
    if action not in part.actions_at(point):
        raise ValueError(f"{action} is not available at {part.name} point {point}")
    return FaultSpec(worker, point, int(nth_text) if sign else 1, action, seconds)


def split_worker(text: str) -> tuple[str, str]:
    """'WORKER:REST' -> (worker, rest); ValueError without a worker or a colon."""
    worker, colon, rest = text.partition(":")
    if not colon or not worker:
        raise ValueError("no WORKER: before the point")
    return worker, rest


# -- Lab 1 ------------------------------------------------------------------------------------------
BATCH_USAGE = (f"use NAME:POINT[@K][=ACTION] with POINT one of {', '.join(WORKER_POINTS)} (K: act at the "
               f"K-th arrival) and ACTION one of exit, slow:SECONDS")


def modern_spelling(point_spec: str, slow_s: float) -> str | None:
    """The new spelling of a deprecated Lab 1 'slow' / 'slow=S' (None if it is not one)."""
    if point_spec == OLD_SLOW:
        return f"before_commit={SLOW}:{_number(slow_s)}"
    if point_spec.startswith(f"{OLD_SLOW}="):
        return f"before_commit={SLOW}:{_number(_seconds(point_spec.split('=', 1)[1]))}"
    return None


def parse_batch(text: str, slow_s: float | None = None, flag: str = "--crash") -> FaultSpec:
    """A Lab 1 spec 'NAME:POINT[@K][=ACTION]', old spellings included.

    `slow_s` is the stall of a bare deprecated 'slow' (the slow_s setting);
    None when only checking a spec, whose seconds then do not matter.
    """
    try:
        worker, rest = split_worker(text)
        rest = modern_spelling(rest, 0.0 if slow_s is None else slow_s) or rest
        return parse_point_spec(worker, rest, LAB1_WORKER)
    except ValueError as exc:
        raise UserError(f"bad {flag} {text!r}: {exc}; {BATCH_USAGE}") from None


def batch_crash_setting(crash: Mapping[str, str], slow_s: float) -> dict[str, str]:
    """The `crash` setting with old spellings rewritten; one warning line for each."""
    out = {}
    for name, point_spec in crash.items():
        new = modern_spelling(point_spec, slow_s)
        if new is not None:
            log.warning("deprecated: %r — write %r", f"{name}:{point_spec}", f"{name}:{new}")
        out[name] = new or point_spec
    return out


# -- Lab 2 ------------------------------------------------------------------------------------------
def stream_usage(mappers: int, reducers: int) -> str:
    return (f"use WORKER:POINT[@K][=ACTION] with WORKER one of {', '.join(all_names(mappers, reducers))}; "
            f"mapper points: {', '.join(MAPPER_POINTS)}; reducer points: {', '.join(REDUCER_POINTS)}; "
            f"ACTION one of {ACTION_USAGE}")


def parse_stream_point_spec(worker: WorkerId, text: str) -> FaultSpec:
    """A Lab 2 worker's own --crash 'POINT[@K][=ACTION]'; ValueError if it is not one."""
    return parse_point_spec(str(worker), text, STREAM_PARTS[worker.kind])


def parse_stream(text: str, mappers: int, reducers: int) -> FaultSpec:
    """A Lab 2 spec 'WORKER:POINT[@K][=ACTION]' for a job of M mappers and R reducers."""
    try:
        name, rest = split_worker(text)
        if name not in all_names(mappers, reducers):
            raise ValueError(f"{name!r} is not a worker of this job")
        return parse_stream_point_spec(WorkerId.parse(name), rest)
    except ValueError as exc:
        raise UserError(f"bad --crash {text!r}: {exc}; {stream_usage(mappers, reducers)}") from None

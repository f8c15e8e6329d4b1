"""Crash injection: named points where a process kills itself on request.

`os._exit` skips every cleanup handler and flush, which is what a SIGKILL or a
power cut does; that is the failure the jobs must survive.
"""
from __future__ import annotations

import logging
import os
import time

from wordcount import trace
from wordcount.errors import UserError

log = logging.getLogger(__name__)

# Lab 1 worker crash points, in the order they occur while handling an entry.
WORKER_POINTS = ("after_read", "mid_count", "before_commit", "after_commit")
SLOW = "slow"
CRASH_EXIT = 75  # distinctive status so supervisors can tell an injected crash


def split_point(point: str) -> tuple[str, int]:
    """'after_commit@3' -> ('after_commit', 3): die the 3rd time the point is reached."""
    base, _, nth = point.partition("@")
    return base, int(nth) if nth else 1


def parse_crash_spec(spec: str) -> tuple[str, str]:
    """'NAME:POINT[@K]' -> (name, point); POINT may also be 'slow' or 'slow=SECONDS'."""
    name, sep, point = spec.partition(":")
    base = point.split("=", 1)[0].split("@", 1)[0]
    nth = point.partition("@")[2]
    if (not sep or not name or base not in (*WORKER_POINTS, SLOW)
            or (nth and (base == SLOW or not nth.isdigit() or int(nth) < 1))):
        raise UserError(
            f"bad --crash {spec!r}: use NAME:POINT[@K] with POINT one of "
            f"{', '.join(WORKER_POINTS)} (K: die the K-th time it is reached), or slow[=SECONDS]"
        )
    if base == SLOW and "=" in point:
        try:
            float(point.split("=", 1)[1])
        except ValueError:
            raise UserError(f"bad --crash {spec!r}: slow=SECONDS needs a number") from None
    return name, point


class CrashPlan:
    """The crash point (if any) one process was started with."""

    def __init__(self, point: str | None, slow_seconds: float = 0.0) -> None:
        self.point: str | None = None
        self.nth = 1
        self.reached = 0
        self.slow = 0.0
        if point and point.startswith(SLOW):
            self.slow = float(point.split("=", 1)[1]) if "=" in point else slow_seconds
        elif point:
            self.point, self.nth = split_point(point)

    def due(self, point: str) -> bool:
        """Count an arrival at `point`; True on the arrival that must crash.

        Counting arrivals (not time) is what makes a seeded chaos run replay
        the same crash at the same logical moment.
        """
        if self.point != point:
            return False
        self.reached += 1
        return self.reached == self.nth

    def die(self, point: str) -> None:
        """Exit at once, without cleanup, like a SIGKILL."""
        log.warning("crash point %s reached (arrival %d): exiting now", point, self.reached)
        trace.event(trace.CRASH, point=point, nth=self.reached)
        logging.shutdown()
        os._exit(CRASH_EXIT)

    def maybe_crash(self, point: str) -> None:
        """Die here if this is the configured point and arrival."""
        if self.due(point):
            self.die(point)

    def maybe_slow(self) -> None:
        """Stall, simulating a straggler whose entry others may steal."""
        if self.slow > 0:
            log.warning("slow worker: stalling %.1fs before commit", self.slow)
            time.sleep(self.slow)

"""Crash injection: named points where a process kills itself on request.

`os._exit` skips every cleanup handler and flush, which is what a SIGKILL or a
power cut does; that is the failure the jobs must survive.
"""
from __future__ import annotations

import logging
import os
import time

from wordcount import trace

log = logging.getLogger(__name__)

# Lab 1 worker crash points, in the order they occur while handling an entry.
WORKER_POINTS = ("after_read", "mid_count", "before_commit", "after_commit")
SLOW = "slow"
CRASH_EXIT = 75  # distinctive status so supervisors can tell an injected crash


def parse_crash_spec(spec: str) -> tuple[str, str]:
    """'NAME:POINT' -> (name, point); POINT may be 'slow' or 'slow=SECONDS'."""
    from wordcount.errors import UserError

    name, sep, point = spec.partition(":")
    base = point.split("=", 1)[0]
    if not sep or not name or base not in (*WORKER_POINTS, SLOW):
        raise UserError(
            f"bad --crash {spec!r}: use NAME:POINT with POINT one of "
            f"{', '.join(WORKER_POINTS)}, slow or slow=SECONDS"
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
        self.point = None
        self.slow = 0.0
        if point and point.startswith(SLOW):
            self.slow = float(point.split("=", 1)[1]) if "=" in point else slow_seconds
        else:
            self.point = point

    def maybe_crash(self, point: str) -> None:
        """Die here, without cleanup, if this is the configured point."""
        if self.point == point:
            log.warning("crash point %s reached: exiting now", point)
            trace.event(trace.CRASH, point=point)
            logging.shutdown()
            os._exit(CRASH_EXIT)

    def maybe_slow(self) -> None:
        """Stall, simulating a straggler whose entry others may steal."""
        if self.slow > 0:
            log.warning("slow worker: stalling %.1fs before commit", self.slow)
            time.sleep(self.slow)

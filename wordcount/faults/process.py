"""The in-process fault injector: the one fault a process was started with.

A worker calls `at(POINT)` wherever a crash point of its part is reached (or
`due` + `fire` when it has something to do in between, like the Lab 1
mid_count "count half, then die"). Arrivals are counted, not timed, so a
seeded run replays the same fault at the same logical step.

`exit` uses `os._exit`, which skips every cleanup handler and flush, as a
SIGKILL or a power cut does: that is the failure the jobs must survive. The
exit status is CRASH_EXIT, so supervisors can tell an injected crash from a
bug. Lab 1 workers get their fault from the `crash` setting, Lab 2 workers
from --crash (first incarnation only, so a replacement never repeats it).
"""
from __future__ import annotations

import logging
import os
import signal
import time

from wordcount import trace
from wordcount.faults.points import EXIT, HANG
from wordcount.faults.spec import FaultSpec, parse_batch, parse_stream_point_spec
from wordcount.ids import WorkerId

log = logging.getLogger(__name__)
CRASH_EXIT = 75  # distinctive status so supervisors can tell an injected crash


class ProcessFaults:
    """The fault (if any) of this process, and how often its point was reached."""

    def __init__(self, spec: FaultSpec | None) -> None:
        self.spec = spec
        self.reached = 0

    @classmethod
    def for_batch(cls, name: str, point_spec: str | None, slow_s: float) -> ProcessFaults:
        """Lab 1 worker `name`, from its entry in the `crash` setting."""
        return cls(parse_batch(f"{name}:{point_spec}", slow_s) if point_spec else None)

    @classmethod
    def for_stream(cls, worker: WorkerId, point_spec: str | None) -> ProcessFaults:
        """Lab 2 worker `worker`, from its --crash POINT[@K][=ACTION]."""
        return cls(parse_stream_point_spec(worker, point_spec) if point_spec else None)

    @property
    def point(self) -> str | None:
        return self.spec.point if self.spec else None

    @property
    def doing(self) -> str:
        return self.spec.doing if self.spec else ""

    def due(self, point: str) -> bool:
        """Count an arrival at `point`; True when the action must happen now."""
        if self.spec is None or point != self.spec.point:
            return False
        self.reached += 1
        return self.spec.fires(self.reached)

    def fire(self) -> None:
        """Carry out the action of the arrival `due` just reported."""
        assert self.spec is not None, "fire() without a fault"
        if self.spec.action == EXIT:
            self._exit()
        elif self.spec.action == HANG:
            self._hang()
        elif self.spec.seconds > 0:
            log.warning("slow worker: stalling %.1fs at %s (arrival %d)", self.spec.seconds, self.spec.point,
                        self.reached)
            time.sleep(self.spec.seconds)

    def at(self, point: str) -> None:
        """A crash point is reached: act if this is the configured point and arrival."""
        if self.due(point):
            self.fire()

    def _exit(self) -> None:
        """Exit at once, without cleanup, like a SIGKILL."""
        point = self.point
        log.warning("crash point %s reached (arrival %d): exiting now", point, self.reached)
        trace.event(trace.CRASH, point=point, nth=self.reached)
        logging.shutdown()
        os._exit(CRASH_EXIT)

    def _hang(self) -> None:
        """Stop, alive but silent: only missed heartbeats can reveal it."""
        point = self.point
        trace.event(trace.CRASH, point=f"{point}={HANG}", nth=self.reached)
        log.warning("crash point %s reached (arrival %d): hanging (SIGSTOP)", point, self.reached)
        os.kill(os.getpid(), signal.SIGSTOP)

"""What the phase machine (coordinator/phases.py) takes and gives: events in,
actions out. Plain frozen values, so a test can drive the machine without
sockets, processes or clocks, and the runtime (coordinator/coordinator.py)
only carries actions out."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import message as m


# -- events ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Tick:
    """Time passed: check heartbeat deadlines, resend timers and the checkpoint timer."""

    now: float


@dataclass(frozen=True)
class Received:
    msg: m.Message
    now: float


@dataclass(frozen=True)
class WorkerExited:
    """The supervisor reaped (or saw exit) incarnation `incarnation` of `worker`."""

    worker: str
    incarnation: int
    now: float


Event = Union[Tick, Received, WorkerExited]


# -- actions ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Send:
    to: str
    msg: m.Message


@dataclass(frozen=True)
class Restart:
    """Kill and reap whatever runs as `worker`, then start `incarnation` of it."""

    worker: str
    incarnation: int


@dataclass(frozen=True)
class Finish:
    ok: bool
    final_checkpoint_id: int
    reason: str = ""


Action = Union[Send, Restart, Finish]

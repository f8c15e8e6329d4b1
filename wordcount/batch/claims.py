"""Keeping a live worker's entries its own.

XAUTOCLAIM steals every entry idle longer than claim_timeout_s, and an entry's
idle time runs from its delivery. A worker counting a big range (or holding a
batch of entries that wait for one commit) therefore refreshes them while it
makes progress: after a chunk is counted, at most every claim_timeout_s / 4,
it resets their idle time with `FCALL wc_touch` (XCLAIM ... JUSTID, only for
entries still pending to this very consumer, so it never takes back an entry
that was stolen from it). A stalled worker (the `slow` crash point, a stopped
process) stops refreshing and is robbed as before.

An entry that a refresh finds held by another consumer, although its worker
was refreshing it and neither stalled nor saw a Redis outage since it took
the batch, was stolen from a live worker: the worker adds it to the progress
field `stolen_live`, which should stay 0. (An entry found acknowledged by
someone else is not counted: that is also how a stalled worker that woke up
first and committed looks to the worker that took its entry.)
"""
from __future__ import annotations

import logging
import time
from typing import Callable

import redis

from wordcount.keys import FUNCTION_LIBRARY, JobKeys

log = logging.getLogger("worker")
TOUCH_FUNCTION = "wc_touch"
STOLEN_LIVE = "stolen_live"  # progress field: entries stolen from a worker that was making progress


def library_functions(conn: redis.Redis) -> set[str]:
    """Names of the functions of the loaded library (a course-style one may lack wc_touch)."""
    try:
        libs = conn.function_list(library=FUNCTION_LIBRARY)
    except redis.ResponseError:
        return set()
    names = set()
    for lib in map(_as_dict, libs):
        names.update(_as_dict(fn).get("name") for fn in lib.get("functions", []))
    return names


def _as_dict(reply: dict | list) -> dict:
    """A RESP3 map, or its RESP2 form [key, value, key, value, ...]."""
    return reply if isinstance(reply, dict) else dict(zip(reply[::2], reply[1::2]))


class Keeper:
    """Refreshes the idle time of the entries this worker holds."""

    def __init__(self, conn: Callable[[], redis.Redis], keys: JobKeys, consumer: str,
                 claim_timeout_s: float, has_touch: bool) -> None:
        self.conn = conn
        self.keys = keys
        self.consumer = consumer
        self.interval = claim_timeout_s / 4
        self.has_touch = has_touch
        self.ids: list[str] = []
        self.last = time.monotonic()
        self.excused = False  # stalled or saw an outage since the entries were taken

    def hold(self, ids: list[str]) -> None:
        """These entries (one batch) are ours until committed."""
        self.ids, self.last, self.excused = list(ids), time.monotonic(), False

    def add(self, ids: list[str]) -> None:
        """More entries joined the batch."""
        self.ids.extend(ids)

    def excuse(self) -> None:
        """The worker stalled, or Redis went away: losing entries now is expected."""
        self.excused = True

    def maybe_refresh(self) -> None:
        if self.ids and time.monotonic() - self.last >= self.interval:
            self.refresh()

    def refresh(self) -> None:
        taken, gone = self._touch()
        self.last = time.monotonic()
        if taken or gone:
            self.ids = [i for i in self.ids if i not in taken and i not in gone]
            self.stolen(taken)

    def stolen(self, ids: set[str]) -> None:
        """Entries of the held batch that another consumer holds now."""
        if not ids:
            return
        if self.excused:
            log.info("%s lost %s after a stall or an outage", self.consumer, sorted(ids))
            return
        log.warning("%s: %s stolen although this worker was making progress", self.consumer, sorted(ids))
        self.conn().hincrby(self.keys.progress, STOLEN_LIVE, len(ids))

    def _touch(self) -> tuple[set[str], set[str]]:
        """(ids another consumer holds, ids no longer pending); refreshes the rest."""
        conn = self.conn()
        if self.has_touch:
            taken, gone = conn.fcall(TOUCH_FUNCTION, 1, self.keys.files, self.keys.group, self.consumer, *self.ids)
            return set(taken), set(gone)
        # A library without wc_touch: the same in two steps (a thief may slip in between).
        pipe = conn.pipeline(transaction=False)
        for eid in self.ids:
            pipe.xpending_range(self.keys.files, self.keys.group, eid, eid, 1)
        owners = {eid: p[0]["consumer"] for eid, p in zip(self.ids, pipe.execute()) if p}
        mine = [eid for eid, owner in owners.items() if owner == self.consumer]
        if mine:
            conn.xclaim(self.keys.files, self.keys.group, self.consumer, 0, mine, justid=True)
        return set(owners) - set(mine), set(self.ids) - set(owners)

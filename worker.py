"""Lab 1 worker: a stateless process that counts files named in a Redis stream.

Loop: steal an entry left pending too long by someone else (XAUTOCLAIM) or
read new ones (XREADGROUP), count each entry's byte range chunk by chunk
(keeping the batch's entries fresh meanwhile, wordcount/batch/claims.py), and
commit the counts together with the XACKs in one atomic FCALL. Entries are
batched by bytes (batch_bytes); an entry whose XACK would return 0 is dropped,
never counted twice. A file that changed since the job began stops the job
with one clear line (progress field `error`). The worker exits only when every
entry has been delivered and acknowledged.

Started by client.py as
    python worker.py --name w0 --job JOB --settings RUN/settings.json
with the server in $WC_REDIS_URL.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

import redis

from wordcount import procs, trace
from wordcount.batch.claims import TOUCH_FUNCTION, Keeper, library_functions
from wordcount.batch.commits import commit_args
from wordcount.config import load_settings
from wordcount.faults.points import SLOW
from wordcount.faults.process import ProcessFaults
from wordcount.keys import COMMIT_FUNCTION, JobKeys
from wordcount.splits import FILE_CHANGED_EXIT, FileChanged, Range, count_range

log = logging.getLogger("worker")
RETRYABLE = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)
MAX_OUTAGE_S = 120.0
MAX_READ = 64  # entries taken by one XREADGROUP at most
# A batch is committed after this much counting even below batch_bytes, so a
# crash loses at most about this much work. (With partial tables a commit costs
# Redis little either way: 4 s measured no faster on the mixed corpus, 8 pairs.)
COMMIT_EVERY_S = 1.0


@dataclass
class Item:
    """One stream entry (a byte range of a file)."""

    entry_id: str
    rng: Range = field(repr=False)
    warnings: list[str] = field(default_factory=list)  # for the summary: not UTF-8, odd CSV rows

    @property
    def path(self) -> str:
        return self.rng.path

    @property
    def size(self) -> int:
        return self.rng.size


@dataclass
class Batch:
    """Entries counted together and committed in one call, with the sum of their counts.

    Every range of the batch is counted into the one Counter (C code does the
    adding), so nothing is merged at commit time; only when a commit finds
    entries gone does the worker count the rest again (`Worker.recount`).
    """

    items: list[Item] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)

    @property
    def size(self) -> int:
        return sum(i.size for i in self.items)


class Worker:
    def __init__(self, name: str, job: str, settings_path: str, url: str) -> None:
        self.settings = load_settings(settings_path)
        self.keys = JobKeys(job)
        self.name = name
        # Unique per process and set here, inside the worker, never by the parent.
        self.consumer = f"{name}-{os.getpid()}"
        self.crash = ProcessFaults.for_batch(name, self.settings.batch.crash.get(name), self.settings.batch.slow_s)
        self.spec = self.settings.tokenizer_spec()
        # the client (named by it: we may start after it is gone); once it is gone nobody reads our counts
        self.parent = int(os.environ.get("WC_CLIENT_PID") or os.getppid())
        self.url = url
        self.conn = self._connect()
        self.claim_cursor = "0-0"
        self.last_id: str | None = None
        self.packed = False  # a library with wc_touch also parses packed counts
        self.keeper = Keeper(lambda: self.conn, self.keys, self.consumer, self.settings.batch.claim_timeout_s, False)
        self.library_checked = False

    def check_library(self) -> None:
        """Which form of the commit the loaded library takes (asked once, inside
        the retry loop, since Redis may be restarting when a worker starts)."""
        if not self.library_checked:
            self.packed = self.keeper.has_touch = TOUCH_FUNCTION in library_functions(self.conn)
            self.library_checked = True

    def _connect(self) -> redis.Redis:
        return redis.Redis.from_url(
            self.url, decode_responses=True, socket_timeout=30, socket_connect_timeout=2,
            health_check_interval=0,
        )

    # -- reading -----------------------------------------------------------
    def steal(self, count: int) -> list[Item]:
        """Claim entries idle longer than the claim timeout (their worker likely died)."""
        # BEGIN SOLUTION: XAUTOCLAIM up to `count` entries idle > claim_timeout_s, keep the cursor, return Items
        min_idle = int(self.settings.batch.claim_timeout_s * 1000)
        reply = self.conn.xautoclaim(
            self.keys.files, self.keys.group, self.consumer, min_idle, self.claim_cursor, count=count
        )
        self.claim_cursor = reply[0]
        items = self._items(reply[1])
        # END SOLUTION
        if items:
            log.info("%s stole %s", self.consumer, [i.entry_id for i in items])
            trace.event(trace.STEAL, ids=[i.entry_id for i in items])
            self.conn.hincrby(self.keys.progress, "stolen", len(items))
        return items

    def read_new(self, count: int, block_ms: int | None) -> list[Item]:
        reply = self.conn.xreadgroup(
            self.keys.group, self.consumer, {self.keys.files: ">"}, count=count, block=block_ms
        )
        items = self._items(reply[0][1]) if reply else []
        if items:
            trace.event(trace.READ, ids=[i.entry_id for i in items])
        return items

    @staticmethod
    def _items(entries: list) -> list[Item]:
        return [Item(eid, Range.from_fields(f)) for eid, f in entries if f]

    def take(self, block: int | None, held: list[Item]) -> list[Item]:
        """About `chunk_bytes` worth of entries (never more than the batch has
        room for); blocks only for the first read. An id already in `held`
        is never taken again, so no batch holds one id twice.

        Entries come largest first, so after one of `last` bytes about
        (budget left) / last more fit: read that many at once. Taking only a
        chunk's worth before counting it keeps workers from hoarding entries
        that another worker could be counting.
        """
        ids = {i.entry_id for i in held}
        room = self.settings.batch.batch_files - len(held)
        budget = min(self.settings.chunk_bytes, self.settings.batch.batch_bytes)
        got_all: list[Item] = []
        size, want = 0, 1
        while len(got_all) < room and size < budget:
            got = [i for i in self.steal(1) or self.read_new(want, block) if i.entry_id not in ids]
            if not got:
                break
            ids.update(i.entry_id for i in got)
            got_all.extend(got)
            size += sum(i.size for i in got)
            block = None  # later reads never wait
            last = max(min(i.size for i in got), 1)
            want = max(1, min(MAX_READ, room - len(got_all), (budget - size) // last))
            for _ in got:
                self.fault("after_read")
        return got_all

    def next_batch(self, block: int | None) -> Batch:
        """A counted batch: take entries and count them until batch_bytes (or
        batch_files) are reached, COMMIT_EVERY_S have passed, or nothing is
        left to take right now. Commits are sized by work done; the entries
        waiting for the commit are kept fresh while the rest is counted."""
        batch = Batch(self.take(block, []))
        self.keeper.hold([i.entry_id for i in batch.items])
        started = time.monotonic()
        pending = batch.items
        while pending:
            for item in pending:
                self.count(item, batch.counts)
            if (len(batch.items) >= self.settings.batch.batch_files
                    or time.monotonic() - started >= COMMIT_EVERY_S
                    or batch.size >= self.settings.batch.batch_bytes):
                break
            pending = self.take(None, batch.items)
            self.keeper.add([i.entry_id for i in pending])
            batch.items += pending
        return batch

    # -- counting and committing ---------------------------------------------
    def count(self, item: Item, into: Counter, crash_points: bool = True) -> None:
        """Count one range in chunks into `into`; after each chunk, keep the
        batch's entries fresh. A recount (`crash_points` False) is no new
        arrival at mid_count."""
        dying = crash_points and self.crash.due("mid_count")
        done = 0

        def on_chunk(n: int) -> None:
            nonlocal done
            done += n
            if dying and 2 * done >= item.size:
                log.info("counted half of %s (%d of %d bytes) before %s", item.path, done, item.size,
                         self.crash.doing)
                self.crash.fire()
            self.keeper.maybe_refresh()

        result = count_range(item.rng, self.spec, self.settings.chunk_bytes, on_chunk, into=into)
        item.warnings = result.warnings(item.path)

    def recount(self, items: list[Item]) -> Batch:
        """The counts of `items` alone, counted again from their files (after a
        commit found other entries of their batch gone: rare, so cheaper than
        keeping every range's counts apart)."""
        batch = Batch(items)
        for item in items:
            self.count(item, batch.counts, crash_points=False)
        return batch

    def commit(self, batch: Batch) -> int:
        """Commit `batch`; entries no longer pending are dropped. Returns files applied."""
        # BEGIN SOLUTION: FCALL wc_commit with the batch's ids and counts; retry without the ids it says are gone
        while batch.items:
            args = commit_args(self.keys.group, batch.items, batch.counts, self.packed)
            keys = [self.keys.files, self.keys.counts, self.keys.progress, self.keys.warnings, self.keys.partials]
            gone = set(self.conn.fcall(COMMIT_FUNCTION, len(keys), *keys, *args))
            if not gone:
                trace.event(trace.COMMIT, ids=[i.entry_id for i in batch.items])
                return len(batch.items)
            log.warning("%s: entries %s were no longer pending (stolen or rolled back); "
                        "committing the rest without them", self.consumer, sorted(gone))
            trace.event(trace.DROPPED, ids=sorted(gone))
            batch = self.recount([i for i in batch.items if i.entry_id not in gone])
        return 0
        # END SOLUTION

    # -- termination -------------------------------------------------------
    def job_done(self) -> bool:
        """Every entry delivered (group cursor at the last entry) and none pending."""
        # BEGIN SOLUTION: XINFO GROUPS: last-delivered-id equals meta last_id and pending is 0
        if self.last_id is None:
            self.last_id = self.conn.hget(self.keys.meta, "last_id")
        for group in self.conn.xinfo_groups(self.keys.files):
            if group["name"] == self.keys.group:
                return group["pending"] == 0 and group["last-delivered-id"] == self.last_id
        return False
        # END SOLUTION

    # -- main loop -----------------------------------------------------------
    def fault(self, point: str) -> None:
        """The crash point `point`: act if this is the configured point and arrival. A
        worker about to stall on purpose excuses itself first, so that losing its
        entries meanwhile is not counted as robbing a live worker."""
        if self.crash.due(point):
            if self.crash.spec is not None and self.crash.spec.action == SLOW:
                self.keeper.excuse()
            self.crash.fire()

    def step(self) -> bool:
        """One batch. Returns False when the job is finished."""
        self.check_library()
        # Look without waiting first: at the end of the job that lets a worker
        # exit at once instead of after a blocking read of block_ms.
        batch = self.next_batch(None)
        if not batch.items:
            if self.job_done():
                return False
            batch = self.next_batch(self.settings.batch.block_ms)
            if not batch.items:
                return True
        self.fault("before_commit")
        applied = self.commit(batch)
        self.keeper.hold([])
        log.info("%s committed %d of %d files", self.consumer, applied, len(batch.items))
        self.fault("after_commit")
        return True

    def run(self) -> int:
        log.info("%s started", self.consumer)
        trace.event(trace.START, consumer=self.consumer)
        outage_started: float | None = None
        delay = 0.05
        while True:
            try:
                if not self.step():
                    log.info("%s: job finished, exiting", self.consumer)
                    return 0
                outage_started, delay = None, 0.05
            except FileChanged as exc:
                log.error("%s", exc)
                self.conn.hsetnx(self.keys.progress, "error", str(exc))
                return FILE_CHANGED_EXIT
            except RETRYABLE as exc:
                self.keeper.excuse()
                if os.getppid() != self.parent:
                    log.error("Redis unreachable (%s) and the client (pid %d) is gone; exiting",
                              exc.__class__.__name__, self.parent)
                    return 5
                now = time.monotonic()
                outage_started = outage_started or now
                if now - outage_started > MAX_OUTAGE_S:
                    log.error("Redis unreachable for %.0fs (%s); giving up", MAX_OUTAGE_S, exc)
                    return 4
                log.info("Redis unavailable (%s); retrying in %.2fs", exc.__class__.__name__, delay)
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
                self.conn = self._connect()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Lab 1 word-count worker (started by client.py)")
    parser.add_argument("--name", required=True, help="worker name; crash points are keyed by it")
    parser.add_argument("--job", required=True, help="job id (selects the Redis keys)")
    parser.add_argument("--settings", required=True, help="effective settings JSON written by client.py")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {args.name} %(levelname)s: %(message)s")
    url = os.environ.get("WC_REDIS_URL")
    if not url:
        print("error: WC_REDIS_URL is not set; start workers through client.py", file=sys.stderr)
        return 2
    code = Worker(args.name, args.job, args.settings, url).run()
    trace.event(trace.EXIT, code=code)
    return code


if __name__ == "__main__":
    procs.exit_now(main())

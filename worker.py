"""Lab 1 worker: a stateless process that counts files named in a Redis stream.

Loop: steal an entry left pending too long by someone else (XAUTOCLAIM) or
read a new one (XREADGROUP), count its file, and commit the counts together
with the XACK in one atomic FCALL. Several entries may be committed in one
call; an entry whose XACK would return 0 is dropped, never counted twice.
The worker exits only when every entry has been delivered and acknowledged.

Started by client.py as
    python worker.py --name w0 --job JOB --settings RUN/settings.json
with the server in $WC_REDIS_URL and the client's pid in $WC_CLIENT_PID.
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

from wordcount import trace
from wordcount.config import load_settings
from wordcount.faults.process import ProcessFaults
from wordcount.keys import COMMIT_FUNCTION, WARNING_SEP, JobKeys
from wordcount.tokenize import count_bytes

log = logging.getLogger("worker")
RETRYABLE = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)
MAX_OUTAGE_S = 120.0


@dataclass
class Item:
    """One stream entry and, once counted, its file's counts."""

    entry_id: str
    path: str
    size: int
    counts: Counter | None = None
    warnings: list[str] = field(default_factory=list)  # for the summary: not UTF-8, odd CSV rows


class Worker:
    def __init__(self, name: str, job: str, settings_path: str, url: str) -> None:
        self.settings = load_settings(settings_path)
        self.keys = JobKeys(job)
        self.name = name
        # Unique per process and set here, inside the worker, never by the parent.
        self.consumer = f"{name}-{os.getpid()}"
        self.crash = ProcessFaults.for_batch(name, self.settings.batch.crash.get(name), self.settings.batch.slow_s)
        self.spec = self.settings.tokenizer_spec()
        self.url = url
        # the client (named by it: we may start after it is gone); once it is gone nobody reads our counts
        self.parent = int(os.environ.get("WC_CLIENT_PID") or os.getppid())
        self.conn = self._connect()
        self.claim_cursor = "0-0"
        self.last_id: str | None = None

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
        return [Item(eid, f["path"], int(f["size"])) for eid, f in entries if f]

    def next_batch(self) -> list[Item]:
        """Up to batch_files entries / batch_bytes bytes; blocks only for the first."""
        batch: list[Item] = []
        size = 0
        block: int | None = self.settings.batch.block_ms
        while len(batch) < self.settings.batch.batch_files and size < self.settings.batch.batch_bytes:
            got = self.steal(1) or self.read_new(1, block)
            if not got:
                break
            batch.extend(got)
            size += sum(i.size for i in got)
            block = None  # later reads in the same batch never wait
            self.crash.at("after_read")
        return batch

    # -- counting and committing ---------------------------------------------
    def count(self, item: Item) -> None:
        with open(item.path, "rb") as fh:
            data = fh.read()
        if self.crash.due("mid_count"):  # the fault strikes halfway through the file
            half = count_bytes(data[: len(data) // 2], item.path.lower().endswith(".csv"), self.spec)
            log.info("counted half of %s (%d words) before %s", item.path, sum(half.counts.values()),
                     self.crash.doing)
            self.crash.fire()
        result = count_bytes(data, item.path.lower().endswith(".csv"), self.spec, item.path)
        item.counts, item.warnings = result.counts, result.warnings(item.path)

    def commit(self, batch: list[Item]) -> int:
        """Commit `batch`; entries no longer pending are dropped. Returns files applied."""
        # BEGIN SOLUTION: FCALL wc_commit with the batch's ids and merged counts; retry without ids it says are gone
        while batch:
            merged: Counter = Counter()
            args: list = [self.keys.group, len(batch)]
            for item in batch:
                merged.update(item.counts or {})
                args += [item.entry_id, item.size, WARNING_SEP.join(item.warnings)]
            for word, n in merged.items():
                args += [word, n]
            keys = [self.keys.files, self.keys.counts, self.keys.progress, self.keys.warnings]
            gone = set(self.conn.fcall(COMMIT_FUNCTION, len(keys), *keys, *args))
            if not gone:
                trace.event(trace.COMMIT, ids=[i.entry_id for i in batch])
                return len(batch)
            log.warning("%s: entries %s were no longer pending (stolen or rolled back); "
                        "committing the rest without them", self.consumer, sorted(gone))
            trace.event(trace.DROPPED, ids=sorted(gone))
            batch = [i for i in batch if i.entry_id not in gone]
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
    def step(self) -> bool:
        """One batch. Returns False when the job is finished."""
        batch = self.next_batch()
        if not batch:
            return not self.job_done()
        for item in batch:
            self.count(item)
        self.crash.at("before_commit")
        applied = self.commit(batch)
        log.info("%s committed %d of %d files", self.consumer, applied, len(batch))
        self.crash.at("after_commit")
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
            except RETRYABLE as exc:
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
    sys.exit(main())

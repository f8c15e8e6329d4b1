"""The batch job's state in Redis, as the client sees it: the stream of input
entries it creates, the "every entry delivered and acknowledged" rule, and the
word table it reads back at the end."""
from __future__ import annotations

import logging
from typing import Mapping, Sequence

import redis

import myrds
from wordcount import trace
from wordcount.keys import WARNING_SEP, JobKeys
from wordcount.batch import partials
from wordcount.table import Ordered

log = logging.getLogger("client")
KEEP_KEYS_S = 600  # a finished job's keys on an external Redis expire after this


def enqueue(conn: redis.Redis, keys: JobKeys, entries: Sequence[Mapping[str, int | str]],
            private: bool = False) -> tuple[int, int | None]:
    """One stream entry per byte range (the fields of wordcount.splits.Range; an
    old-style entry has only `path` and `size`), the consumer group, and the
    job's meta, then a snapshot. Returns the number of entries and, on a shared
    server, the server time of the BGSAVE asked (None if none was started).

    The snapshot is asked for before any worker runs, so a Redis restart can
    never roll back to a state without the stream. On a `private` server (ours,
    holding only this job) it is a synchronous SAVE: no fork and no polling
    for the child, a few milliseconds, and nothing else is waiting for the
    server yet. A shared server gets a BGSAVE that nobody waits for here: its
    child holds the server as it was at the fork, stream included, whatever
    the workers do meanwhile, and the supervisor sees it finish (or fail) with
    its periodic ones. Waiting took 0.05-0.5 s (Redis notices a finished child
    only at its next cron tick), all of it before the first word was counted.
    """
    pipe = conn.pipeline(transaction=True)
    for fields in entries:
        pipe.xadd(keys.files, fields)
    ids = pipe.execute()
    conn.xgroup_create(keys.files, keys.group, id="0")
    last = ids[-1].decode() if isinstance(ids[-1], bytes) else ids[-1]
    conn.hset(keys.meta, mapping={"total": len(entries), "last_id": last})
    trace.event(trace.ENQUEUED, files=len(entries))
    asked = None
    try:
        if private:
            conn.save()
            trace.event(trace.SNAPSHOT, target="redis")
        else:
            asked = myrds.start_snapshot(conn)
    except redis.RedisError as exc:
        log.warning("initial snapshot failed (%s); a Redis crash would lose the job", exc)
    return len(entries), asked


def is_done(conn: redis.Redis, keys: JobKeys) -> bool:
    """Every entry delivered and acknowledged (the same rule the workers use)."""
    last = conn.hget(keys.meta, "last_id")
    for g in conn.xinfo_groups(keys.files):
        if g["name"] in (keys.group, keys.group.encode()):
            delivered = g["last-delivered-id"]
            delivered = delivered.decode() if isinstance(delivered, bytes) else delivered
            return g["pending"] == 0 and last is not None and delivered == last.decode()
    return False


def read_results(conn: redis.Redis, keys: JobKeys) -> tuple[Ordered, list[str]]:
    """The word table in output order: the hash and the partial tables (or a sorted
    set, from a course-style Lua library)."""
    kind = conn.type(keys.counts).decode()
    if kind == "zset":
        pairs = conn.zrange(keys.counts, 0, -1, withscores=True)
        table = Ordered({w.decode("utf-8", errors="surrogateescape"): int(c) for w, c in pairs})
    else:
        flat_client = _flat_client(conn)
        try:
            pipe = flat_client.pipeline(transaction=True)  # both as of one moment
            pipe.hgetall(keys.counts)  # [word, count, word, count, ...]
            pipe.lrange(keys.partials, 0, -1)
            table = partials.merged(*pipe.execute())
        finally:
            flat_client.connection_pool.disconnect()
    warnings = [w for member in conn.smembers(keys.warnings)
                for w in member.decode("utf-8", "replace").split(WARNING_SEP)]
    return table, warnings


def _flat_client(conn: redis.Redis) -> redis.Redis:
    """A client of the same server that hands HGETALL's reply over as hiredis
    parsed it: RESP2, so a flat array, where RESP3's map reply takes hiredis
    about twice as long (0.5 s against 0.2 s on 300 000 words); bytes, never
    decoded (batch.partials and table.StoredOrdered order and write them as they are); no
    dict built. RESP3-only connection settings of newer redis-py versions are
    left out."""
    pool = conn.connection_pool
    kwargs = {k: v for k, v in pool.connection_kwargs.items()
              if not k.startswith(("maint_notifications", "orig_"))}
    kwargs.update(decode_responses=False, protocol=2)
    flat_client = redis.Redis(connection_pool=redis.ConnectionPool(connection_class=pool.connection_class, **kwargs))
    flat_client.set_response_callback("HGETALL", lambda reply, **_: reply)
    return flat_client


def expire(conn: redis.Redis, keys: JobKeys, seconds: int = KEEP_KEYS_S) -> None:
    """A shared server keeps a finished job's keys only `seconds` more (a private
    server goes with its run directory): long enough to look at the job that
    just ended, short enough that the server never fills up with old jobs."""
    try:
        pipe = conn.pipeline(transaction=False)
        for key in (keys.files, keys.counts, keys.partials, keys.progress, keys.warnings, keys.meta):
            pipe.expire(key, seconds)
        pipe.execute()
    except redis.RedisError as exc:
        log.warning("could not set an expiry on the job's keys %s* in Redis: %s", keys.prefix, exc)

"""The batch job's state in Redis, as the client sees it: the stream of input
entries it creates, the "every entry delivered and acknowledged" rule, and the
word table it reads back at the end."""
from __future__ import annotations

import logging

import redis

import myrds
from wordcount import trace
from wordcount.inputs import InputFile
from wordcount.keys import WARNING_SEP, JobKeys

log = logging.getLogger("client")
KEEP_KEYS_S = 600  # a finished job's keys on an external Redis expire after this


def enqueue(conn: redis.Redis, keys: JobKeys, inputs: list[InputFile]) -> None:
    """One entry per file, the consumer group, and the job's meta, then a snapshot.

    The snapshot comes before any worker starts, so a Redis restart can never
    roll back to a state without the stream.
    """
    pipe = conn.pipeline(transaction=True)
    for f in inputs:
        pipe.xadd(keys.files, {"path": f.path, "size": f.size})
    ids = pipe.execute()
    conn.xgroup_create(keys.files, keys.group, id="0")
    last = ids[-1].decode() if isinstance(ids[-1], bytes) else ids[-1]
    conn.hset(keys.meta, mapping={"total": len(inputs), "last_id": last})
    trace.event(trace.ENQUEUED, files=len(inputs))
    try:
        myrds.snapshot(conn)
        trace.event(trace.SNAPSHOT, target="redis")
    except redis.RedisError as exc:
        log.warning("initial BGSAVE failed (%s); a Redis crash would lose the job", exc)


def is_done(conn: redis.Redis, keys: JobKeys) -> bool:
    """Every entry delivered and acknowledged (the same rule the workers use)."""
    last = conn.hget(keys.meta, "last_id")
    for g in conn.xinfo_groups(keys.files):
        if g["name"] in (keys.group, keys.group.encode()):
            delivered = g["last-delivered-id"]
            delivered = delivered.decode() if isinstance(delivered, bytes) else delivered
            return g["pending"] == 0 and last is not None and delivered == last.decode()
    return False


def read_results(conn: redis.Redis, keys: JobKeys) -> tuple[dict[str, int], list[str]]:
    """The word table (a hash, or a sorted set from a course-style Lua library)."""
    kind = conn.type(keys.counts).decode()
    if kind == "zset":
        raw = {w: int(c) for w, c in conn.zrange(keys.counts, 0, -1, withscores=True)}
    else:
        raw = {w: int(c) for w, c in conn.hgetall(keys.counts).items()}
    table = {w.decode("utf-8", errors="surrogateescape"): c for w, c in raw.items()}
    warnings = [w for member in conn.smembers(keys.warnings)
                for w in member.decode("utf-8", "replace").split(WARNING_SEP)]
    return table, warnings


def expire(conn: redis.Redis, keys: JobKeys, seconds: int = KEEP_KEYS_S) -> None:
    """A shared server keeps a finished job's keys only `seconds` more (a private
    server goes with its run directory): long enough to look at the job that
    just ended, short enough that the server never fills up with old jobs."""
    try:
        pipe = conn.pipeline(transaction=False)
        for key in (keys.files, keys.counts, keys.progress, keys.warnings, keys.meta):
            pipe.expire(key, seconds)
        pipe.execute()
    except redis.RedisError as exc:
        log.warning("could not set an expiry on the job's keys %s* in Redis: %s", keys.prefix, exc)

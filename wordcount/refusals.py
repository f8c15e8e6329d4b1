"""What a job's private Redis refused: the ACL log, read at the end of a run.

Who was turned away, by reason: "auth" (a wrong password: someone guessing),
"key" or "command" (a worker, e.g. a swapped student part, reaching outside
its job's keys or commands; see wordcount/jobuser.py for what the job's user
may do). Both jobs put it in their run record (`redis_refused`) and, if there
is any, one summary line. Only meaningful on a private server: a shared one
logs other clients too.
"""
from __future__ import annotations

import logging

import redis

log = logging.getLogger("client")


def refused_requests(conn: redis.Redis) -> dict[str, int]:
    """What the server refused since it (re)started, by ACL LOG reason."""
    try:
        entries = conn.acl_log()
    except redis.RedisError as exc:
        log.debug("cannot read the ACL log: %s", exc)
        return {}
    out: dict[str, int] = {}
    for entry in entries:
        reason = str(entry.get("reason", "?"))
        out[reason] = out.get(reason, 0) + int(entry.get("count", 1))
    return out


def refused_line(refusals: dict[str, int]) -> str:
    """'redis refused 12 requests: auth 12' for the summary."""
    parts = ", ".join(f"{reason} {n}" for reason, n in sorted(refusals.items(), key=lambda kv: -kv[1]))
    return f"redis refused {sum(refusals.values())} requests: {parts}"

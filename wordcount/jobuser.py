"""A per-job Redis ACL user for the workers of one run on the private server.

The client keeps the server's own password to itself. Workers (Lab 1
workers, Lab 2 mappers) get, in $WC_REDIS_URL, a user made for this job
alone: a fresh random password, only the keys `wc:<job>:*`, and only data and
function-call commands -- no FUNCTION LOAD, CONFIG, KEYS/SCAN, FLUSH*, or
other admin. So a worker (or a swapped student part, or anyone who got hold
of what a worker holds) cannot spoil the server or reach past its job.

The server stores only the SHA-256 of the password. ACL users live in the
configuration, not in the RDB, so the user is part of the configuration the
private server gets at every (re)start (myrds.ManagedServer.users). A
--redis-url server is not ours to restart: a user made there at run time
would vanish if its owner restarted it mid-run and strand the workers, so
there workers get the given URL (in their environment only, never argv or a
file). The ACL log of the private server (`refused`) shows who was turned
away.
"""
from __future__ import annotations

import hashlib
import logging
import secrets
from urllib.parse import quote, urlsplit, urlunsplit

import redis

import myrds

log = logging.getLogger("client")

# Categories first, then what must never be allowed: later rules win.
COMMANDS = ("-@all +@read +@write +@stream +@hash +@set +@sortedset +@string +@list +@connection "
            "+@scripting +@transaction -@admin -@dangerous -function -script -eval -evalsha -eval_ro "
            "-evalsha_ro -scan -randomkey +function|list")  # the worker asks which functions the library has


def user_name(job: str) -> str:
    return f"wc-job-{job}"


def rule(job: str, password: str) -> str:
    """The ACL rule (as in redis.conf `user ...`) of the job's worker user."""
    digest = hashlib.sha256(password.encode()).hexdigest()
    return f"{user_name(job)} reset on #{digest} resetkeys ~wc:{job}:* resetchannels {COMMANDS}"


def create(conn: redis.Redis, url: str, job: str, server: myrds.ManagedServer | None) -> str:
    """Make the job's user on our private server; return the URL workers should use."""
    if server is None:
        return url
    password = secrets.token_urlsafe(24)
    text = rule(job, password)
    try:
        conn.execute_command("ACL", "SETUSER", *text.split())
    except redis.ResponseError as exc:
        log.warning("cannot create a per-job Redis user (%s); workers use the server's password", exc)
        return url
    server.users.append(text)  # part of the configuration at every restart
    return with_user(url, user_name(job), password)


def with_user(url: str, user: str, password: str) -> str:
    """`url` with its credentials replaced by (user, password)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    query = "&".join(q for q in parts.query.split("&") if q and not q.lower().startswith(("password=", "username=")))
    return urlunsplit((parts.scheme, f"{quote(user, safe='')}:{quote(password, safe='')}@{host}", parts.path,
                       query, ""))


def refused(conn: redis.Redis) -> dict[str, int]:
    """What the server refused since it (re)started, by ACL LOG reason: "auth" (a wrong
    password: someone guessing), "key" / "command" (a worker reaching outside its job).
    Only meaningful on the private server: a shared one logs other clients too."""
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

"""A per-job Redis ACL user for the workers of one run, decided before the server starts.

The client keeps the server's own password to itself. Workers (Lab 1
workers, Lab 2 mappers) get, in $WC_REDIS_URL, a user made for this job
alone: a fresh random password, only the keys `wc:<job>:*`, and only data and
function-call commands -- no FUNCTION LOAD, CONFIG, KEYS/SCAN, FLUSH*, or
other admin. So a worker (or a swapped student part, or anyone who got hold
of what a worker holds) cannot spoil the server or reach past its job.

The private server's port, its password and this user are all chosen before
the server starts (`plan`): the user is part of the configuration the server
gets at its first start and at every restart (ACL users live in the
configuration, not in the RDB), and the workers' URL is known at once, so the
client can start the workers' interpreters (wordcount/warm.py) with it in
their environment while the server is still starting. The server stores only
the SHA-256 of the password. A --redis-url server is not ours to restart: a
user made there at run time would vanish if its owner restarted it mid-run
and strand the workers, so there workers get the given URL (in their
environment only, never argv or a file). The ACL log of the private server
(wordcount/refusals.py) shows who was turned away.

Imports nothing of Redis: the clients plan before they import redis-py.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

from wordcount.redisconf import Identity, external_url

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


def with_user(url: str, user: str, password: str) -> str:
    """`url` with its credentials replaced by (user, password)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    query = "&".join(q for q in parts.query.split("&") if q and not q.lower().startswith(("password=", "username=")))
    return urlunsplit((parts.scheme, f"{quote(user, safe='')}:{quote(password, safe='')}@{host}", parts.path,
                       query, ""))


@dataclass(frozen=True)
class ServerPlan:
    """The server a job will use, as far as it is known before it starts."""

    identity: Identity | None  # a private server's port and password; None: a server given by URL
    users: tuple[str, ...]  # ACL rules the private server starts with
    worker_url: str  # what workers (and mappers) get in $WC_REDIS_URL


def plan(job: str, url: str | None, backend: str) -> ServerPlan:
    """A private server's port, password and job user, or the given server's URL as is."""
    given = external_url(url, backend)
    if given:
        return ServerPlan(None, (), given)
    identity, password = Identity.new(), secrets.token_urlsafe(24)
    return ServerPlan(identity, (rule(job, password),), with_user(identity.url, user_name(job), password))

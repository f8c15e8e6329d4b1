"""The private server's configuration, one text for every backend and restart.

The password (and the per-job ACL users, wordcount/jobuser.py) live only
here: a local server reads this text on its stdin (`redis-server -`), a
container from a 0600 file in its 0700 data directory. Never argv, which
every user of the machine can read.
"""
from __future__ import annotations

import logging
import os
import secrets
import time
from dataclasses import dataclass
from typing import Any, Sequence

from wordcount import procs

log = logging.getLogger("myrds")


def quote(value: str) -> str:
    """A redis.conf argument: double-quoted, backslash and quote escaped (paths may hold spaces)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def text(port: int, password: str, data_dir: str, users: Sequence[str] = ()) -> str:
    """redis.conf for a private server: loopback only, our password, no automatic saves
    (the client takes BGSAVE checkpoints on its own schedule), and the ACL users."""
    options = {
        "port": str(port), "bind": "127.0.0.1", "requirepass": password, "dir": data_dir,
        "dbfilename": "dump.rdb", "save": "", "appendonly": "no", "daemonize": "no", "logfile": "",
        "protected-mode": "no",
    }
    lines = [f"{name} {quote(value)}" for name, value in options.items()]
    return "\n".join([*lines, *(f"user {rule}" for rule in users), ""])


@dataclass(frozen=True)
class Identity:
    """A private server's port and password, chosen before it starts (so what
    its clients will need is known first: wordcount/jobuser.py, ServerPlan)."""

    port: int
    password: str

    @classmethod
    def new(cls) -> "Identity":
        """A port that was free a moment ago (the server binds it soon) and a fresh password."""
        return cls(procs.free_port(), secrets.token_urlsafe(16))

    @property
    def url(self) -> str:
        return local_url(self.port, self.password)


def local_url(port: int, password: str) -> str:
    """A private server's URL: loopback, its port, its own password."""
    return f"redis://:{password}@127.0.0.1:{port}/0"


class ServerBase:
    """What every private server (a local process, myrds.ManagedServer, or a
    container, wordcount/docker/server.py) derives from its port, password and
    data directory, and its kill-and-restart; the dataclasses that mix this in
    define those fields and `crash` and `start`."""

    port: int
    password: str
    data_dir: str
    restarts: int

    def crash(self) -> None:
        raise NotImplementedError

    def start(self) -> Any:
        raise NotImplementedError

    def restart(self, down_s: float = 0.0) -> Any:
        """Crash (SIGKILL: the next start rolls back to the last BGSAVE), stay down
        `down_s` (an outage longer than the client library's own quick retries, so
        the workers must really reconnect), then start again exactly as before."""
        self.crash()
        time.sleep(down_s)
        self.restarts += 1
        conn = self.start()
        log.info("redis restarted (%d so far)", self.restarts)
        return conn

    @property
    def url(self) -> str:
        return local_url(self.port, self.password)

    @property
    def log_path(self) -> str:
        return os.path.join(self.data_dir, "server.log")


def external_url(url: str | None, backend: str = "local") -> str | None:
    """The server to use instead of starting one: the URL setting, else $REDIS_URL.

    None with the Docker backend: asking for a container means starting one
    (settings refuse a URL together with it; $REDIS_URL is ignored).
    """
    if backend == "docker":
        return None
    return url or os.environ.get("REDIS_URL") or None

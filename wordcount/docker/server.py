"""The Docker backend (`--redis docker`): the private Redis of one run, in a container.

It is the same private server as the local backend — a free loopback port, a
generated password, data under the run directory, no automatic saves — only
the binary comes from an image (the course's redis:7.4, or the one
`python myrds.py image` builds). What the container gets, and why:

* host networking, `bind 127.0.0.1`: workers reach it exactly as a local
  server, and nothing outside this machine can (the daemon may have no bridge);
* the password only in a 0600 redis.conf inside the 0700 data directory, never
  in the container's command line or environment, which every user can read
  (`ps`, `docker inspect`);
* the data directory mounted at the same path inside as outside, so paths in
  the server's log mean the same on both sides, and the server's cwd (which
  the test suite uses to tell whose a process is) is the host path;
* our uid:gid, so files it writes are ours and the run directory can be
  removed like any other;
* labels `wordcount-labs.job` and `wordcount-labs.owner-pid`, so cleanup
  finds exactly our containers and no one else's.

A kill is a real SIGKILL of the container (never `docker stop`, which lets
Redis save) and a restart is a new container on the same port, volume and
password, so it rolls back to the last BGSAVE just like the local backend.
No container outlives the client: `stop()` on every exit path, an atexit
sweep, and a reaper process (wordcount/docker/reaper.py) that removes the
job's containers if the client itself is SIGKILLed.
"""
from __future__ import annotations

import atexit
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import redis

from wordcount import private, procs, redisconf
from wordcount.docker.sdk import docker_client, ensure_image, explain, sdk
from wordcount.errors import UserError

log = logging.getLogger("myrds")

JOB_LABEL = "wordcount-labs.job"
OWNER_LABEL = "wordcount-labs.owner-pid"
REPO = Path(__file__).resolve().parents[2]  # the checkout: the reaper runs as -m wordcount.docker.reaper from there
_live: set[DockerServer] = set()  # servers holding a container, for the atexit sweep


def write_config(data_dir: str, port: int, password: str, users: list[str]) -> str:
    """The server's redis.conf, 0600 inside the 0700 data dir: the only place the
    password is written, so it never shows on a command line. Rewritten at every
    start, so a new container gets the job's ACL users too."""
    path = os.path.join(data_dir, "redis.conf")
    private.write_file(path, redisconf.text(port, password, data_dir, users))
    return path


@dataclass(eq=False)
class DockerServer(redisconf.ServerBase):
    """A private server in a container that this process may kill and restart.

    Same interface as myrds.ManagedServer (url, pid, start, crash, restart,
    stop, restarts), so the supervisor does not care which backend runs it.
    `on_start` runs after every start: loading the function library.
    """

    client: Any  # docker.DockerClient; the SDK is optional, so no import for the hint
    image: str
    job: str
    data_dir: str
    port: int
    password: str
    on_start: Callable[[redis.Redis], None]
    container: Any = None
    reaper: subprocess.Popen | None = None
    restarts: int = 0
    labels: dict = field(default_factory=dict)
    users: list[str] = field(default_factory=list)  # ACL rules to recreate at every start (wordcount/jobuser.py)

    def __post_init__(self) -> None:
        self.labels = {JOB_LABEL: self.job, OWNER_LABEL: str(os.getpid())}

    @property
    def pid(self) -> int | None:
        """The server's pid on this host (for trace events), while it runs."""
        if self.container is None:
            return None
        return self.container.attrs.get("State", {}).get("Pid") or None

    def start(self) -> redis.Redis:
        """Start a new container on the same port, volume and password; load functions."""
        if self.reaper is None:
            self.reaper = spawn_reaper(self.job, os.path.join(self.data_dir, "reaper.log"))
        conf = write_config(self.data_dir, self.port, self.password, self.users)
        errors = sdk().errors
        try:
            self.container = self.client.containers.run(
                self.image, ["redis-server", conf], detach=True, network_mode="host",
                name=f"wordcount-{self.job}-{self.restarts}", labels=self.labels,
                user=f"{os.getuid()}:{os.getgid()}", working_dir=self.data_dir,
                volumes={self.data_dir: {"bind": self.data_dir, "mode": "rw"}})
        except errors.DockerException as exc:
            raise UserError(f"cannot start a container from {self.image!r}: {explain(exc)}") from None
        _live.add(self)
        conn = self._wait_ready()
        self.container.reload()  # run() returns the state from before the start: no pid yet
        self.on_start(conn)
        return conn

    def _wait_ready(self, timeout: float = 30.0) -> redis.Redis:
        """PING until it answers; fail with the server's last log line if the container exits."""
        conn = redis.Redis.from_url(self.url, socket_timeout=5, socket_connect_timeout=1)
        deadline = time.monotonic() + timeout
        pause = 0.01
        while time.monotonic() < deadline:
            try:
                conn.ping()
                return conn
            except redis.ConnectionError:  # not listening yet, or still loading the RDB
                pass
            self.container.reload()
            if self.container.status in ("exited", "dead"):
                raise UserError(f"redis-server in {self.image!r} exited at start: {self._last_log_line()}")
            time.sleep(pause)
            pause = min(pause * 2, 0.2)
        raise UserError(f"redis-server in {self.image!r} did not answer on port {self.port} within {timeout}s")

    def _last_log_line(self) -> str:
        lines = self.container.logs().decode("utf-8", "replace").strip().splitlines()
        return lines[-1].strip() if lines else "no log"

    def _remove_container(self) -> None:
        """SIGKILL the container, wait until it is dead, keep its log, remove it.

        The container stays ours until it is gone: an interrupt halfway leaves
        it to the next stop(), the atexit sweep or the reaper."""
        container = self.container
        if container is None:
            return
        errors = sdk().errors
        try:
            container.kill(signal="SIGKILL")
            container.wait(timeout=30)
        except errors.DockerException as exc:  # it had exited already: fine
            log.debug("killing %s: %s", container.name, explain(exc))
        try:
            with open(self.log_path, "ab") as fh:
                fh.write(container.logs())
        except (OSError, errors.DockerException) as exc:
            log.debug("could not keep the log of %s: %s", container.name, exc)
        try:
            container.remove(force=True, v=True)
        except errors.NotFound:
            pass
        except errors.DockerException as exc:
            raise UserError(f"cannot remove container {container.name}: {explain(exc)}") from None
        self.container = None
        _live.discard(self)

    def crash(self) -> None:
        """SIGKILL: no shutdown save, so the next start rolls back to the last BGSAVE."""
        self._remove_container()

    def stop(self) -> None:
        """Remove the container (SIGKILL: the job is over, nothing to save), then the reaper.

        If the daemon will not remove it now, say so and leave the reaper
        running: it tries again as soon as this process exits."""
        try:
            self._remove_container()
            # and any we hold no handle to: an interrupt between creating a container and run() returning
            for name in sweep(self.client, self.job):
                log.info("removed container %s", name)
        except (UserError, sdk().errors.DockerException) as exc:
            log.warning("%s; trying again when this process exits", explain(exc))
            return
        if self.reaper is not None:
            procs.stop(self.reaper, grace=1.0)
            if self.reaper.stdin:
                self.reaper.stdin.close()
            self.reaper = None


def spawn_reaper(job: str, log_path: str) -> subprocess.Popen | None:
    """A process that removes the job's containers when its stdin closes: the
    kernel closes our end of that pipe however we die, SIGKILL included. Not a
    PDEATHSIG child, on purpose: it must outlive us. stop() ends it with SIGTERM
    once the container is gone. Best effort: stop() and atexit cover the rest."""
    try:
        with open(log_path, "ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "wordcount.docker.reaper", "--job", job], cwd=REPO,
                stdin=subprocess.PIPE, stdout=out, stderr=out, start_new_session=True)
    except OSError as exc:
        log.warning("no reaper for the job's containers (%s); a SIGKILLed client may leave one", exc)
        return None


def ours(client: Any, job: str | None = None) -> list:
    """Our containers, running or not: every job's, or one job's."""
    return client.containers.list(all=True, filters={"label": JOB_LABEL if job is None else f"{JOB_LABEL}={job}"})


def sweep(client: Any, job: str) -> list[str]:
    """Remove the containers of `job`; their names."""
    removed = []
    for container in ours(client, job):
        container.remove(force=True, v=True)
        removed.append(container.name)
    return removed


def _stop_leftovers() -> None:
    """At interpreter exit: a server someone forgot to stop still goes."""
    for server in list(_live):
        try:
            server.stop()
        except Exception as exc:  # exiting anyway: say it, do not mask the real exit
            log.warning("could not remove container of job %s: %s", server.job, exc)


atexit.register(_stop_leftovers)


def start_server(run_dir: str, image: str, on_start: Callable[[redis.Redis], None],
                 identity: redisconf.Identity | None = None,
                 users: Sequence[str] = ()) -> tuple[DockerServer, redis.Redis]:
    """Start a private server for one run in a container from `image` (on
    `identity`'s port and password, or new ones, with the ACL `users`).

    The job id (the run directory's name) labels the container. Raises a
    one-line UserError if the SDK, the daemon or the image is missing.
    """
    client = docker_client()
    ensure_image(client, image)
    data_dir = os.path.abspath(os.path.join(run_dir, "redis"))
    os.makedirs(data_dir, mode=0o700, exist_ok=True)
    os.chmod(data_dir, 0o700)
    identity = identity or redisconf.Identity.new()
    server = DockerServer(client=client, image=image, job=os.path.basename(os.path.abspath(run_dir)),
                          data_dir=data_dir, port=identity.port, password=identity.password,
                          on_start=on_start, users=list(users))
    try:
        conn = server.start()
    except BaseException:
        server.stop()
        raise
    log.info("started %s in container %s on 127.0.0.1:%d (data in %s)", image,
             server.container.name, server.port, data_dir)
    return server, conn


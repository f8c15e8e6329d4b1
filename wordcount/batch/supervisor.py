"""The batch client's supervision loop: workers, replacements, BGSAVE
checkpoints and Redis kills, all from the client's main thread."""
from __future__ import annotations

import logging
import os
import select
import time
from dataclasses import dataclass, field

import redis

import myrds
from wordcount import private, procs, trace
from wordcount.batch.jobstate import is_done
from wordcount.batch.starter import WorkerStarter, first_started, generation_size
from wordcount.config import Settings, to_json
from wordcount.console import BatchDisplay
from wordcount.errors import JobFailed
from wordcount.keys import JobKeys

log = logging.getLogger("client")
TICK_S = 0.1  # supervision period: worker exits, progress, snapshot and kill timers
DONE_CHECK_EVERY = 8  # while starting workers, look whether the first ones already finished the job


@dataclass
class Supervisor:
    """Runs the workers and the Redis checkpoint/kill timers from the main thread."""

    settings: Settings
    keys: JobKeys
    run_path: str
    conn: redis.Redis
    server: myrds.PrivateServer | None
    starter: WorkerStarter
    total_files: int
    total_bytes: int
    redis_kills_after: list = field(default_factory=list)  # committed-file thresholds (chaos)
    workers: dict = field(default_factory=dict)  # name -> Popen
    exited: set = field(default_factory=set)  # names whose exit is already traced
    replacements: int = 0
    generation: int = 0
    restarts_seen_alive: int = 0  # Redis restarts so far, the last time a worker was seen running
    rollback_replacements: int = 0  # replacements not charged to the limit (see replace_all)
    spare_at: float | None = None  # when the first generation's spare worker is due (see start_all)
    commands_before: int = 0  # requests read by the private servers killed so far (see count_commands)
    commands_seen: int = 0  # the current private server's count, at the last look
    save_asked: tuple[int, float] | None = None  # the periodic BGSAVE still running: server, monotonic time asked

    def start_worker(self, name: str) -> None:
        """Start and register one worker (prestarted or not: starter.py); a Ctrl-C
        waits until it is registered, so it gets stopped."""
        with procs.deferred_interrupts():
            self.workers[name] = self.starter.start(name)

    @property
    def generation_size(self) -> int:
        return generation_size(self.settings.batch.workers, self.total_files)

    def start_all(self) -> None:
        """Start the first generation. The spare of a job with fewer entries than
        workers starts only once the claim timeout has passed with the job not
        done: no entry can be stolen before that, so a small job that finishes
        first never pays for it (a one-file job starts one worker)."""
        private.write_file(self.starter.settings_path, to_json(private.for_children(self.settings)))
        now = first_started(self.settings.batch.workers, self.total_files)
        if now < self.generation_size:
            self.spare_at = time.monotonic() + self.settings.batch.claim_timeout_s
            log.info("starting %d of the %d workers: the job has only %d entries (a spare follows if it is "
                     "not done in %gs)", now, self.settings.batch.workers, self.total_files,
                     self.settings.batch.claim_timeout_s)
        for i in range(now):
            if i and i % DONE_CHECK_EVERY == 0 and self.done_now():
                log.info("the job finished while workers were starting; started %d of %d", i, now)
                return
            self.start_worker(f"w{i}")

    def start_spare(self, now: float) -> None:
        """The first generation's spare, once it is due (see start_all)."""
        if self.spare_at is not None and now >= self.spare_at and self.generation == 0:
            self.spare_at = None
            if not self.done_now():
                self.start_worker(f"w{self.generation_size - 1}")

    def done_now(self) -> bool:
        """Whether the workers started so far already did everything (small inputs, many workers)."""
        try:
            return is_done(self.conn, self.keys)
        except redis.RedisError:
            return False

    def rolled_back(self) -> bool:
        """Whether every worker exited cleanly and Redis restarted since one was
        last seen running: a rollback to a snapshot from before the end of the
        job undid the "done" they saw. Their exits were no failure, so the
        replacements that finish the rolled-back work are not charged to
        `batch.max_replacement_workers` (a worker that exits early on its own,
        with no restart to explain it, still is)."""
        restarts = self.server.restarts if self.server else 0
        return restarts > self.restarts_seen_alive and all(p.returncode == 0 for p in self.workers.values())

    def replace_all(self) -> None:
        """Every worker exited but work is pending: start a new generation, as
        long as the job's total of replacement workers stays within the limit."""
        workers, limit = self.generation_size, self.settings.batch.max_replacement_workers
        free = self.rolled_back()
        if free:
            self.rollback_replacements += workers
            log.warning("a Redis restart rolled back the end of the job after the workers left; "
                        "starting %d replacements to redo it", workers)
        elif self.replacements - self.rollback_replacements + workers > limit:
            raise JobFailed(
                f"every worker died and the job is not done after {self.replacements} replacements "
                f"(batch.max_replacement_workers={limit}); last worker said: "
                f"{self._last_log_line()!r}; logs in {self.run_path}/logs")
        self.generation += 1
        if not free:
            log.warning("all workers exited with work pending; starting %d replacements", workers)
        trace.event(trace.REPLACEMENTS, generation=self.generation, count=workers)
        for i in range(workers):
            self.replacements += 1
            self.start_worker(f"w{i}.{self.generation}")

    def _last_log_line(self) -> str:
        """Why the newest worker died, from the last line of its log."""
        name = next(reversed(self.workers))
        try:
            with open(os.path.join(self.run_path, "logs", f"{name}.log"), errors="replace") as fh:
                lines = [ln.strip() for ln in fh if ln.strip()]
        except OSError:
            return "(no log)"
        return lines[-1] if lines else "(empty log)"

    def progress(self) -> tuple[int, int, int]:
        p = self.conn.hgetall(self.keys.progress)
        if b"error" in p:  # a worker found an input it cannot count (e.g. changed since the job began)
            raise JobFailed(p[b"error"].decode("utf-8", "replace"))
        return int(p.get(b"files", 0)), int(p.get(b"bytes", 0)), int(p.get(b"stolen", 0))

    def count_commands(self) -> None:
        """Look at how many requests our private server has read from its clients
        (`total_reads_processed`: read events, so what a Lua function runs inside
        one FCALL does not count). The counter starts again at 0 after each
        restart, so restart_redis banks a server's count just before killing it,
        and run() looks once more at the end. A busy-polling worker shows here as
        hundreds of requests a second where a blocking one sends a few; on a
        shared server the count would be everyone's, so none is kept."""
        if self.server is None:
            return
        try:
            self.commands_seen = int(self.conn.info("stats").get("total_reads_processed", 0))
        except redis.RedisError:
            pass

    @property
    def redis_commands(self) -> int | None:
        """Requests our private server(s) read during the job (None on a shared server)."""
        return self.commands_before + self.commands_seen if self.server else None

    def fail_on_worker_error(self) -> None:
        """A worker that stopped on a changed input wrote why just before it
        exited: fail with that line instead of starting replacements."""
        try:
            self.progress()
        except redis.RedisError:
            pass

    def run(self) -> None:
        display = BatchDisplay(self.total_files).start()
        t0 = time.monotonic()
        # a shared server's first snapshot was only asked for (jobstate.enqueue): see it through at once
        next_save = t0 if self.server is None else t0 + self.settings.batch.bgsave_interval_s
        kill_every = self.settings.batch.kill_redis_every_s
        next_kill = t0 + kill_every
        files = bytes_ = stolen = 0
        try:
            while True:
                wait_for_exit(self.workers.values(), TICK_S)
                if any(p.poll() is None for p in self.workers.values()):
                    self.restarts_seen_alive = self.server.restarts if self.server else 0
                now = time.monotonic()
                try:
                    files, bytes_, stolen = self.progress()
                    if self.settings.batch.bgsave_interval_s and now >= next_save and self.checkpoint():
                        next_save = time.monotonic() + self.settings.batch.bgsave_interval_s
                except redis.RedisError as exc:
                    log.debug("Redis unavailable to the client: %s", exc)
                if kill_every and self.server and now >= next_kill and not self.done_now():
                    self.restart_redis(files)
                    next_kill = time.monotonic() + kill_every
                if self.redis_kills_after and self.server and files >= self.redis_kills_after[0]:
                    self.restart_redis(files, threshold=self.redis_kills_after.pop(0))
                self.start_spare(now)
                restarts = self.server.restarts if self.server else 0
                display.update(files, bytes_, stolen, restarts)
                self.trace_exits()
                if all(p.poll() is not None for p in self.workers.values()):
                    if self._done():
                        self.count_commands()
                        self.trace_exits()  # one may have exited since the look above: job_done comes after
                        display.update(self.total_files, bytes_, stolen, restarts, done=True)
                        return
                    self.fail_on_worker_error()
                    self.replace_all()
        finally:
            display.close()

    def checkpoint(self) -> bool:
        """One step of the periodic BGSAVE: ask for one, or see whether the one
        asked has finished (traced then). Never waits for the save, which takes
        a while once the table is large, so worker exits are still seen at once.
        True when the save asked for is over (finished, or failed: warned)."""
        if self.save_asked is None:
            now = time.monotonic()
            server_time = myrds.start_snapshot(self.conn)
            self.save_asked = None if server_time is None else (server_time, now)
            return False
        try:
            if not myrds.snapshot_finished(self.conn, self.save_asked[0]):
                return False
        except redis.ConnectionError:
            raise
        except redis.RedisError as exc:  # the save failed: warn, and ask again at the next interval
            log.warning("%s; a Redis crash now would roll the job back further", exc)
            self.save_asked = None
            return True
        trace.event(trace.SNAPSHOT, target="redis", asked=self.save_asked[1])
        self.save_asked = None
        return True

    def restart_redis(self, files: int, threshold: int | None = None) -> None:
        """SIGKILL the private Redis and start it again (fault injection)."""
        assert self.server is not None
        self.count_commands()
        self.commands_before += self.commands_seen
        self.commands_seen = 0
        trace.event(trace.KILL, target="redis", target_pid=redis_pid(self.server), files=files,
                    threshold=threshold)
        self.save_asked = None  # a save running in the killed server is lost with it
        self.conn = self.server.restart(self.settings.batch.redis_down_s)
        trace.event(trace.REDIS_RESTART, target="redis", target_pid=redis_pid(self.server),
                    restarts=self.server.restarts)

    def _done(self) -> bool:
        for _ in range(50):
            try:
                return is_done(self.conn, self.keys)
            except redis.RedisError:
                time.sleep(0.1)
        raise JobFailed("Redis stopped answering; cannot tell whether the job finished")

    def stop_workers(self) -> None:
        """All at once, so that stopping 64 workers after a Ctrl-C takes one grace period, not 64."""
        procs.stop_all(self.workers.values(), grace=1.0)
        self.trace_exits()

    def trace_exits(self) -> None:
        """Trace each worker's exit once, when the supervisor first sees it."""
        for name, proc in self.workers.items():
            if name not in self.exited and proc.poll() is not None:
                self.exited.add(name)
                trace.event(trace.EXIT, target=name, target_pid=proc.pid, status=proc.returncode)


def wait_for_exit(workers, timeout: float) -> None:
    """Sleep `timeout`, or less if a worker exits meanwhile (pidfds on Linux), so
    the end of a job is seen at once rather than at the next tick."""
    fds = []
    try:
        for proc in workers:
            if proc.poll() is None:
                fds.append(os.pidfd_open(proc.pid))
        if fds:
            select.select(fds, [], [], timeout)
        else:
            time.sleep(timeout)
    except (AttributeError, OSError):  # no pidfd_open here
        time.sleep(timeout)
    finally:
        for fd in fds:
            os.close(fd)


def redis_pid(server: myrds.PrivateServer | None) -> int | None:
    """The pid of our private Redis (in a container or not), for trace events about it."""
    return server.pid if server else None

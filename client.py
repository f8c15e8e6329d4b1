"""Word count over Redis streams (Lab 1), and the entry point of both jobs.

    python client.py [options]          MapReduce-style batch job (Lab 1)
    python client.py stream [options]   streaming job with checkpoints (Lab 2)

The batch job: put one stream entry per input file, snapshot Redis, start N
worker processes, supervise them (BGSAVE checkpoints, optional Redis kills,
replacements if every worker died), then read the table and report.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from dataclasses import dataclass, field, replace
from typing import Sequence

import redis

import myrds
from wordcount import parts, procs, trace
from wordcount.cli import (
    add_common_arguments, report, run_main, settings_and_inputs, with_replay, write_record,
)
from wordcount.config import Settings, to_json
from wordcount.chaos import Schedule, batch_schedule
from wordcount.crash import parse_crash_spec
from wordcount.errors import JobFailed, UserError
from wordcount.inputs import InputFile
from wordcount.keys import JobKeys, new_job_id
from wordcount.progress import Progress

log = logging.getLogger("client")
HERE = os.path.dirname(os.path.abspath(__file__))
TICK_S = 0.1  # supervision period: worker exits, progress, snapshot and kill timers


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="client.py",
        description="Count every word of the input files with N worker processes over Redis "
        "streams. Run 'python client.py stream --help' for the streaming (Lab 2) job.",
    )
    add_common_arguments(parser)
    parser.add_argument("--workers", type=int, metavar="N", help="number of worker processes")
    parser.add_argument("--crash", action="append", default=[], metavar="NAME:POINT",
                        help="make worker NAME (w0, w1, ...) die at POINT: after_read, mid_count, "
                        "before_commit, after_commit; or stall before every commit with slow[=SECONDS]. "
                        "Repeatable. Fires once: replacements get new names.")
    parser.add_argument("--kill-redis-every", type=float, metavar="S",
                        help="SIGKILL the private Redis every S seconds while work is pending, "
                        "then restart it (needs a server this client started)")
    parser.add_argument("--chaos", type=int, metavar="SEED",
                        help="seeded crash schedule: some workers die at a random point and arrival, "
                        "and the private Redis is killed after a random number of committed files; "
                        "the same SEED on the same data replays it")
    parser.add_argument("--claim-timeout", type=float, metavar="S",
                        help="steal entries pending longer than S seconds")
    return parser.parse_args(argv)


def overrides(args: argparse.Namespace) -> dict:
    crash = dict(parse_crash_spec(s) for s in args.crash) or None
    return {"workers": args.workers, "crash": crash, "kill_redis_every_s": args.kill_redis_every,
            "claim_timeout_s": args.claim_timeout}


# -- job setup -----------------------------------------------------------------
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
    warnings = [p.decode() for p in conn.smembers(keys.warnings)]
    return table, warnings


# -- supervision -----------------------------------------------------------------
@dataclass
class Supervisor:
    """Runs the workers and the Redis checkpoint/kill timers from the main thread."""

    settings: Settings
    keys: JobKeys
    url: str
    run_path: str
    conn: redis.Redis
    server: myrds.ManagedServer | None
    total_files: int
    total_bytes: int
    redis_kills_after: list = field(default_factory=list)  # committed-file thresholds (chaos)
    workers: dict = field(default_factory=dict)  # name -> Popen
    exited: set = field(default_factory=set)  # names whose exit is already traced
    replacements: int = 0
    generation: int = 0

    def start_worker(self, name: str) -> None:
        self.workers[name] = parts.spawn(
            self.settings.parts, "worker", ["--name", name, "--job", self.keys.job, "--settings", self.settings_path],
            label=name, log_path=os.path.join(self.run_path, "logs", f"{name}.log"),
            env={"WC_REDIS_URL": self.url})

    @property
    def settings_path(self) -> str:
        return os.path.join(self.run_path, "settings.json")

    def start_all(self) -> None:
        with open(self.settings_path, "w", encoding="utf-8") as fh:
            fh.write(to_json(self.settings))
        for i in range(self.settings.workers):
            self.start_worker(f"w{i}")

    def replace_all(self) -> None:
        """Every worker exited but work is pending: start a new generation."""
        if self.replacements + self.settings.workers > self.settings.max_replacements:
            raise JobFailed(
                f"every worker died and the job is not done after {self.replacements} replacements "
                f"(max_replacements={self.settings.max_replacements}); last worker said: "
                f"{self._last_log_line()!r}; logs in {self.run_path}/logs")
        self.generation += 1
        log.warning("all workers exited with work pending; starting %d replacements", self.settings.workers)
        trace.event(trace.REPLACEMENTS, generation=self.generation, count=self.settings.workers)
        for i in range(self.settings.workers):
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
        return int(p.get(b"files", 0)), int(p.get(b"bytes", 0)), int(p.get(b"stolen", 0))

    def run(self) -> None:
        bar = Progress()
        t0 = time.monotonic()
        next_save = t0 + self.settings.bgsave_interval_s
        kill_every = self.settings.kill_redis_every_s
        next_kill = t0 + kill_every
        files = bytes_ = stolen = 0
        try:
            while True:
                time.sleep(TICK_S)
                now = time.monotonic()
                try:
                    files, bytes_, stolen = self.progress()
                    if self.settings.bgsave_interval_s and now >= next_save:
                        myrds.snapshot(self.conn)
                        trace.event(trace.SNAPSHOT, target="redis", asked=now)
                        next_save = time.monotonic() + self.settings.bgsave_interval_s
                except redis.RedisError as exc:
                    log.debug("Redis unavailable to the client: %s", exc)
                if kill_every and self.server and now >= next_kill and files < self.total_files:
                    self.restart_redis(files)
                    next_kill = time.monotonic() + kill_every
                if self.redis_kills_after and self.server and files >= self.redis_kills_after[0]:
                    self.restart_redis(files, threshold=self.redis_kills_after.pop(0))
                restarts = self.server.restarts if self.server else 0
                mbps = bytes_ / 1e6 / max(now - t0, 1e-9)
                bar.show(files, self.total_files, f"{files}/{self.total_files} files  {mbps:.1f} MB/s  "
                         f"stolen {stolen}  redis restarts {restarts}")
                self.trace_exits()
                if all(p.poll() is not None for p in self.workers.values()):
                    if self._done():
                        bar.show(files, self.total_files, f"{self.total_files}/{self.total_files} files done",
                                 force=True)
                        return
                    self.replace_all()
        finally:
            bar.close()

    def restart_redis(self, files: int, threshold: int | None = None) -> None:
        """SIGKILL the private Redis and start it again (fault injection)."""
        assert self.server is not None
        trace.event(trace.KILL, target="redis", target_pid=redis_pid(self.server), files=files,
                    threshold=threshold)
        self.conn = self.server.restart()
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
        for proc in self.workers.values():
            procs.stop(proc, grace=1.0)
        self.trace_exits()

    def trace_exits(self) -> None:
        """Trace each worker's exit once, when the supervisor first sees it."""
        for name, proc in self.workers.items():
            if name not in self.exited and proc.poll() is not None:
                self.exited.add(name)
                trace.event(trace.EXIT, target=name, target_pid=proc.pid, status=proc.returncode)


def redis_pid(server: myrds.ManagedServer | None) -> int | None:
    """The pid of our private Redis, for trace events about it."""
    return server.proc.pid if server and server.proc else None


# -- entry point -----------------------------------------------------------------
def batch_main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    settings, inputs = settings_and_inputs(args, overrides(args))
    external = bool(settings.redis_url or os.environ.get("REDIS_URL"))
    if settings.kill_redis_every_s and external:
        raise UserError("--kill-redis-every needs a Redis started by this client; drop --redis-url/REDIS_URL")
    schedule = None
    if args.chaos is not None:
        schedule = batch_schedule(args.chaos, settings.workers, len(inputs), not external)
        settings = replace(settings, crash={**schedule.crashes, **settings.crash})
        log.info("chaos seed %d: crashes %s, Redis kills after %s committed files",
                 args.chaos, schedule.crashes, list(schedule.redis_kills_after))
    return with_replay(lambda: run_batch(args, settings, inputs, schedule), argv)


def run_batch(args: argparse.Namespace, settings: Settings, inputs: list[InputFile],
              schedule: Schedule | None) -> int:
    keys = JobKeys(new_job_id())
    run_path = os.path.abspath(os.path.join(settings.run_dir, keys.job))
    os.makedirs(os.path.join(run_path, "logs"), exist_ok=True)
    trace.setup(os.path.join(run_path, "trace.jsonl"), "client")
    trace.event(trace.RUN_START, job=keys.job, lab=1, workers=settings.workers, files=len(inputs),
                wall=time.time())
    t0 = time.perf_counter()
    server, conn, url = myrds.open_server(settings.redis_url, run_path, parts.resolve(settings.parts, "lua"))
    if server:
        trace.event(trace.SPAWN, target="redis", target_pid=redis_pid(server))
    sup = None
    try:
        enqueue(conn, keys, inputs)
        sup = Supervisor(settings, keys, url, run_path, conn, server,
                         len(inputs), sum(f.size for f in inputs),
                         list(schedule.redis_kills_after) if schedule else [])
        sup.start_all()
        sup.run()
        table, warnings = read_results(sup.conn, keys)
        elapsed = time.perf_counter() - t0
        restarts = server.restarts if server else 0
        stolen = sup.progress()[2]
        log.info("job %s: %d replacements, %d entries stolen, %d Redis restarts",
                 keys.job, sup.replacements, stolen, restarts)
        trace.event(trace.JOB_DONE, elapsed_s=elapsed, stolen=stolen, redis_restarts=restarts,
                    replacements=sup.replacements)
        write_record({"job": keys.job, "kind": "batch", "elapsed_s": elapsed, "files": len(inputs),
                      "bytes": sum(f.size for f in inputs), "workers": settings.workers,
                      "stolen": stolen, "redis_restarts": restarts, "replacements": sup.replacements,
                      "trace": trace.path(), "chaos": schedule.to_json() if schedule else None},
                     run_path, args.record)
    finally:
        if sup:
            sup.stop_workers()
        if server:
            server.stop()
        trace.event(trace.RUN_END)
    return report(table, inputs, settings, warnings, elapsed, args.verify)


def main(argv: Sequence[str]) -> int:
    if argv and argv[0] == "stream":
        from coordinator.launch import stream_main

        return stream_main(list(argv[1:]))
    return batch_main(argv)


if __name__ == "__main__":
    sys.exit(run_main(main))

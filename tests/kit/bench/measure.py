"""Running one job of the benchmark and measuring it; the shared state of a benchmark.

Each job runs as `python client.py ...` through kit.run, timed by wall clock,
so process start-up, Redis round trips and writing the output all count, as
they do for a user; a thread samples the peak memory of its processes
(kit.bench.rss). The batch jobs use a Redis server started here
(myrds.start_private) and passed in $REDIS_URL, so that CONFIG RESETSTAT
before and INFO after each run measure exactly that run. The in-process
baselines (serial count, Pool(2)) are in baselines.py; the order of runs in
rounds.py.
"""
from __future__ import annotations

import argparse
import logging
import os
import resource
import sys
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

import redis
from kit.bench.rss import PeakSampler, reset_hwm
from kit.corpus import synthetic
from kit.run import Finished, Job

import myrds
from wordcount.record import RecordError, RunRecord
from wordcount.stream.auth import INSECURE_ENV
from wordcount.table import diff_report, read_table

log = logging.getLogger("benchmark")
REPO = Path(__file__).resolve().parents[3]
WATCH_S = 1.0  # record a job's descendants once a second: scanning /proc more often would load the machine


class BenchError(Exception):
    """A user mistake or a missing prerequisite: one line, exit 2."""


def ensure_data(args: argparse.Namespace) -> Path:
    """--data as given, or a generated corpus (kept in the temp dir; regenerated only if the arguments differ)."""
    if args.data:
        if not os.path.exists(args.data):
            raise BenchError(f"--data {args.data!r} does not exist")
        return Path(args.data).resolve()
    return generated(args.size, args.files)


def generated(size: str, files: int) -> Path:
    """data/generate.py's corpus of `size` in `files` files, cached by its arguments in the temp dir:
    generating 200 MB takes longer than counting it, and the same arguments give the same bytes."""
    label = "".join(c for c in size if c.isalnum() or c == ".")
    return synthetic(Path(tempfile.gettempdir()) / "wordcount-bench" / f"{label}-{files}f-s0", size, files)


@dataclass
class RedisMeter:
    """A private Redis whose statistics are reset before each run and read after it."""

    run_dir: Path
    server: myrds.ManagedServer | None = None
    conn: redis.Redis | None = None
    own_commands: int = 0  # commands the meter itself leaves in total_commands_processed
    cpu_before: float = 0.0

    def start(self) -> str:
        self.server, self.conn = myrds.start_private(str(self.run_dir))
        self.reset()
        self.own_commands = int(self.conn.info("all")["total_commands_processed"])
        return self.server.url

    def reset(self) -> None:
        """Empty the server and zero its counters (CPU time cannot be reset: remember it)."""
        assert self.conn is not None
        self.conn.flushall()
        self.cpu_before = self._cpu(self.conn.info("cpu"))
        self.conn.config_resetstat()

    @staticmethod
    def _cpu(info: dict) -> float:
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    def read(self) -> dict[str, Any]:
        """Commands, per-command cost and CPU seconds since the last reset (one INFO call)."""
        assert self.conn is not None
        info = self.conn.info("all")
        stats = {k[len("cmdstat_"):]: v for k, v in info.items()
                 if k.startswith("cmdstat_") and k != "cmdstat_config|resetstat"}
        return {"commands": int(info["total_commands_processed"]) - self.own_commands,
                "redis_cpu_s": self._cpu(info) - self.cpu_before, "commandstats": stats}

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


def children_cpu() -> float:
    """User + system seconds of every reaped descendant (client, workers) so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class Config:
    """One row of the table: how to run it."""

    name: str
    kind: str  # serial, pool, batch, stream
    argv: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()  # added to this job's environment only
    private_redis: bool = False  # True: the job starts its own server, as a user's does (no Redis stats)


@dataclass
class Run:
    """One timed run of a configuration."""

    config: str
    seconds: float
    ok: bool = True
    error: str = ""
    check: str = "-"
    cpu_s: float | None = None
    load1: float = 0.0
    record: RunRecord | None = None  # the job's run record (None for the serial count and failed jobs)
    redis: dict = field(default_factory=dict)
    rss_kb: dict[str, int] = field(default_factory=dict)  # peak VmHWM by role (client, worker w0, ...)

    @property
    def peak_kb(self) -> int | None:
        return max(self.rss_kb.values()) if self.rss_kb else None

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "record": self.record.to_json() if self.record else None}


@dataclass
class Bench:
    """Shared state of one benchmark: the corpus, the reference count, the server."""

    args: argparse.Namespace
    data: Path
    work: Path
    meter: RedisMeter
    url: str = ""
    expected: Counter = field(default_factory=Counter)
    files: int = 0
    bytes: int = 0
    stream_error: str | None = None
    label: str = ""  # prefix of this corpus's log and record names (the scaling runs share `work`)


def job_argv(bench: Bench, config: Config, output: Path, record: Path) -> list[str]:
    argv = [sys.executable, str(REPO / "client.py"), *config.argv, "--data", str(bench.data),
            "--output", str(output), "--record", str(record)]
    if bench.args.config:
        argv += ["--config", bench.args.config]
    return argv


def job_env(bench: Bench, config: Config) -> dict[str, str]:
    """This environment without WC_INSECURE_NO_AUTH (so only the job that asks for it runs
    without frame authentication, even if the caller exported it), plus the job's own entries.
    The benchmark's server goes in $REDIS_URL (a URL with a password on a command line is
    readable by every user); a job on its own private server gets no $REDIS_URL at all."""
    env = {k: v for k, v in os.environ.items() if k not in (INSECURE_ENV, "REDIS_URL")}
    if not config.private_redis:
        env["REDIS_URL"] = bench.url
    return {**env, **dict(config.env)}


def run_timed(bench: Bench, argv: list[str], env: dict[str, str], log: Path,
              extra: dict[int, str]) -> tuple[Finished, dict[str, int], float]:
    """Run `argv` to its end like a job (kit.run, output in `log`), timed by wall clock from
    outside, sampling the peak memory of its processes (and of the `extra` pids): how it
    ended, the peak kB by role, and the CPU seconds of everything it reaped."""
    cpu0 = children_cpu()
    job = Job(argv, cwd=REPO, env=env, output=log, watch_s=WATCH_S)
    sampler = PeakSampler(job.pid, extra).start()
    try:
        done = job.wait(bench.args.timeout)
    finally:
        rss = sampler.stop()
    return done, rss, children_cpu() - cpu0


def verify(bench: Bench, output: Path) -> str:
    """'OK' if the job's table equals the serial count, else a loud MISMATCH."""
    try:
        table = read_table(str(output))
    except (OSError, ValueError) as exc:
        return f"MISMATCH (no readable output: {exc})"
    return compare(bench, table, output.name)


def compare(bench: Bench, table: Mapping[str, int], what: str) -> str:
    """'OK' if `table` equals the serial count of this corpus, else a loud MISMATCH."""
    diff = diff_report(bench.expected, table, limit=5)
    if diff:
        print(f"\n!!! MISMATCH in {what}: {diff}\n", file=sys.stderr)
        return "MISMATCH"
    return "OK"


def server_pids(bench: Bench) -> dict[int, str]:
    """The benchmark's Redis, whose peak memory counts for the batch jobs that use it: its high-water
    mark is reset before each job, so it is that job's (else its name says it is the server's lifetime's)."""
    pid = bench.meter.server.pid if bench.meter.server else None
    if pid is None:
        return {}
    return {pid: "redis-server" if reset_hwm(pid) else "redis-server (since start)"}


def job_once(bench: Bench, config: Config, index: int) -> Run:
    """Run one job in a subprocess (its output in <stem>.log), then measure Redis and check the output."""
    stem = f"{bench.label}{config.name.replace(' ', '_')}.{index}"
    output, record = bench.work / f"{stem}.tsv", bench.work / f"{stem}.json"
    if not config.private_redis:
        bench.meter.reset()
    extra = {} if config.private_redis else server_pids(bench)
    done, rss, cpu = run_timed(bench, job_argv(bench, config, output, record), job_env(bench, config),
                               bench.work / f"{stem}.log", extra)
    result = Run(config.name, done.duration_s, cpu_s=cpu, load1=os.getloadavg()[0], rss_kb=rss)
    result.redis = {} if config.private_redis else bench.meter.read()
    if done.timed_out or done.exit_code != 0:
        result.ok = False
        result.error = f"timed out after {bench.args.timeout}s" if done.timed_out else done.last_error
        return result
    try:
        result.record = RunRecord.read(record)
    except (OSError, RecordError):
        result.record = None
    result.check = verify(bench, output)
    output.unlink(missing_ok=True)  # tables are large; the log and record stay
    return result

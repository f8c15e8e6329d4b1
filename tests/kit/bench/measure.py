"""Running the benchmark's configurations and measuring each run.

The serial count runs in this process (wordcount.table.serial_count, the
reference every job must equal); each job runs as `python client.py ...`
through kit.run, timed by wall clock, so process start-up, Redis round trips
and writing the output all count, as they do for a user. The batch jobs use a
Redis server started here (myrds.start_private) and passed with
--redis-url, so that CONFIG RESETSTAT before and INFO after each run measure
exactly that run.
"""
from __future__ import annotations

import argparse
import logging
import os
import resource
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import redis
from kit.corpus import synthetic
from kit.run import run as run_command

import myrds
from wordcount.config import load_settings
from wordcount.inputs import find_inputs
from wordcount.record import RecordError, RunRecord
from wordcount.table import diff_report, read_table, serial_count

log = logging.getLogger("benchmark")
REPO = Path(__file__).resolve().parents[3]
STREAM_BASE = ["stream", "--mappers", "2", "--reducers", "2"]
KILL_ARGS = ["--kill", "mapper-0", "--every", "2", "--kill-count", "1"]
WATCH_S = 1.0  # record a job's descendants once a second: scanning /proc more often would load the machine


class BenchError(Exception):
    """A user mistake or a missing prerequisite: one line, exit 2."""


def ensure_data(args: argparse.Namespace) -> Path:
    """--data as given, or a generated corpus (kept in the temp dir; regenerated only if the arguments differ)."""
    if args.data:
        if not os.path.exists(args.data):
            raise BenchError(f"--data {args.data!r} does not exist")
        return Path(args.data).resolve()
    label = "".join(c for c in args.size if c.isalnum() or c == ".")
    return synthetic(Path(tempfile.gettempdir()) / "wordcount-bench" / f"{label}-{args.files}f-s0", args.size,
                     args.files)


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
    kind: str  # serial, batch, stream
    argv: tuple[str, ...] = ()


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


def serial_once(bench: Bench) -> Run:
    """find_inputs + serial_count, in this process, timed, with the jobs' own settings."""
    settings = load_settings(bench.args.config or str(REPO / "config.json"))
    t0 = time.perf_counter()
    inputs = find_inputs(str(bench.data), tuple(settings.extensions), settings.csv_text_column)
    counts = serial_count((f.path for f in inputs), settings.tokenizer_spec())
    seconds = time.perf_counter() - t0
    bench.expected, bench.files, bench.bytes = counts, len(inputs), sum(f.size for f in inputs)
    return Run("serial", seconds, load1=os.getloadavg()[0])


def job_argv(bench: Bench, config: Config, output: Path, record: Path) -> list[str]:
    argv = [sys.executable, str(REPO / "client.py"), *config.argv, "--data", str(bench.data),
            "--output", str(output), "--record", str(record), "--redis-url", bench.url]
    if bench.args.config:
        argv += ["--config", bench.args.config]
    return argv


def verify(bench: Bench, output: Path) -> str:
    """'OK' if the job's table equals the serial count, else a loud MISMATCH."""
    try:
        table = read_table(str(output))
    except (OSError, ValueError) as exc:
        return f"MISMATCH (no readable output: {exc})"
    diff = diff_report(bench.expected, table, limit=5)
    if diff:
        print(f"\n!!! MISMATCH in {output.name}: {diff}\n", file=sys.stderr)
        return "MISMATCH"
    return "OK"


def job_once(bench: Bench, config: Config, index: int) -> Run:
    """Run one job in a subprocess (its output in <stem>.log), then measure Redis and check the output."""
    stem = f"{config.name.replace(' ', '_')}.{index}"
    output, record = bench.work / f"{stem}.tsv", bench.work / f"{stem}.json"
    bench.meter.reset()
    cpu0 = children_cpu()
    done = run_command(job_argv(bench, config, output, record), bench.args.timeout, cwd=REPO,
               output=bench.work / f"{stem}.log", watch_s=WATCH_S)
    result = Run(config.name, done.duration_s, cpu_s=children_cpu() - cpu0, load1=os.getloadavg()[0])
    result.redis = bench.meter.read()
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


def configs(args: argparse.Namespace) -> list[Config]:
    rows = [Config(f"batch {n} worker{'s' if n > 1 else ''}", "batch", ("--workers", str(n)))
            for n in args.workers]
    if not args.no_stream:
        rows += [
            Config("stream 2x2 ckpt 0.5s", "stream", (*STREAM_BASE, "--checkpoint-interval", "0.5")),
            Config("stream 2x2 ckpt off", "stream", (*STREAM_BASE, "--checkpoint-interval", "0")),
            Config("stream 2x2 kill mapper-0", "stream",
                   (*STREAM_BASE, "--checkpoint-interval", "0.5", *KILL_ARGS)),
        ]
    return rows


def run_all(bench: Bench) -> dict[str, list[Run]]:
    """Every configuration `repeat` times, interleaved; the stream job is dropped at its first failure.

    Interleaving spreads load from other users of the machine over all configurations instead of
    spoiling one.
    """
    runs: dict[str, list[Run]] = {"serial": []}
    plan = configs(bench.args)
    first_stream = next((c for c in plan if c.kind == "stream"), None)
    for rep in range(bench.args.repeat):
        runs["serial"].append(serial_once(bench))
        log.info("serial: %.2fs", runs["serial"][-1].seconds)
        for config in plan:
            if config.kind == "stream" and bench.stream_error is not None:
                continue
            run = job_once(bench, config, rep)
            runs.setdefault(config.name, []).append(run)
            log.info("%s: %.2fs %s%s", config.name, run.seconds, run.check, f" ({run.error})" if run.error else "")
            if config is first_stream and not run.ok and rep == 0:
                bench.stream_error = run.error  # the plain stream run failed at once: not implemented yet
    return runs

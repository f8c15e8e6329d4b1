"""Benchmark: the serial count against the batch and streaming jobs, on one corpus.

    python tests/benchmark.py [--data DIR | --size 50MB --files 200] [--repeat 3]
                              [--workers 1,2,4] [--json FILE] [--config FILE] [--no-stream]

Everything runs in this one process tree, on the same files, one run at a
time: the serial count in-process (wordcount.table.serial_count, the
reference every job must equal), then each job as `python client.py ...`
timed by wall clock, so process start-up, Redis round trips and writing the
output all count, as they do for a user. Repetitions are interleaved across
the configurations so that load from other users of the machine spreads over
all of them instead of spoiling one.

The batch jobs use a Redis server this script starts (myrds.start_private)
and passes with --redis-url, so that CONFIG RESETSTAT before and INFO after
each run measure exactly that run: commands per input file (Redis counts the
commands a function runs, so one FCALL with N words counts as 1 + N + ...),
the server's CPU time, and the per-command cost of FCALL and HINCRBY.

Not a pytest test (its name does not start with test_): the numbers depend on
the machine and its load, which is printed with them.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, Sequence

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import redis  # noqa: E402

import myrds  # noqa: E402
from wordcount import procs  # noqa: E402
from wordcount.config import load_settings  # noqa: E402
from wordcount.errors import UserError  # noqa: E402
from wordcount.inputs import find_inputs  # noqa: E402
from wordcount.table import diff_report, read_table, serial_count  # noqa: E402

log = logging.getLogger("benchmark")
GENERATOR = REPO / "data" / "generate.py"
TARGET_WORKERS = 2
TARGET_RATIO = 2.0  # the issue's target: 2 workers take at most 2x the serial time
STREAM_BASE = ["stream", "--mappers", "2", "--reducers", "2"]
KILL_ARGS = ["--kill", "mapper-0", "--every", "2", "--kill-count", "1"]
NO_AUTH = "stream 2x2 ckpt 0.5s no HMAC"


class BenchError(Exception):
    """A user mistake or a missing prerequisite: one line, exit 2."""


# -- arguments --------------------------------------------------------------------
class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line (no usage dump), like every other error."""

    def error(self, message: str) -> NoReturn:
        raise BenchError(message)


def worker_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a list like 1,2,4 (got {text!r})") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"worker counts must be integers >= 1 (got {text!r})")
    return values


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1 (got {text!r})")
    return int(text)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = OneLineParser(
        prog="benchmark.py",
        description="Time the serial count, the batch job with 1, 2, 4 workers and the streaming "
        "job on the same corpus; print each time with its ratio to the serial time.",
        epilog=f"Target: the batch job with {TARGET_WORKERS} workers takes at most "
        f"{TARGET_RATIO:g}x the serial time on a 50 MB mixed corpus (2 cores).")
    parser.add_argument("--data", metavar="DIR", help="corpus to use (default: generate one with "
                        "data/generate.py into a temporary directory, reused while it matches)")
    parser.add_argument("--size", default="50MB", help="size of the generated corpus (default: 50MB)")
    parser.add_argument("--files", type=positive_int, default=200,
                        help="files in the generated corpus (default: 200)")
    parser.add_argument("--repeat", type=positive_int, default=1, metavar="N",
                        help="runs of each configuration (default: 1)")
    parser.add_argument("--stat", choices=("median", "best"), default="median",
                        help="which of the repeated runs to report (default: median)")
    parser.add_argument("--workers", type=worker_list, default=[1, 2, 4], metavar="LIST",
                        help="batch worker counts, comma-separated (default: 1,2,4)")
    parser.add_argument("--config", metavar="FILE",
                        help="settings file passed to every job with --config (e.g. other batch sizes)")
    parser.add_argument("--no-stream", action="store_true", help="skip the streaming job")
    parser.add_argument("--timeout", type=positive_int, default=600, metavar="S",
                        help="give up on one job after S seconds (default: 600)")
    parser.add_argument("--json", metavar="FILE", help="also save every run and the summary as JSON")
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    args = parser.parse_args(argv)
    if args.config and not os.path.isfile(args.config):
        parser.error(f"config file {args.config!r} not found")
    if args.config:
        args.config = os.path.abspath(args.config)
    return args


# -- the corpus -------------------------------------------------------------------
def ensure_data(args: argparse.Namespace) -> Path:
    """--data as given, or a generated corpus (generate.py skips it if up to date)."""
    if args.data:
        if not os.path.exists(args.data):
            raise BenchError(f"--data {args.data!r} does not exist")
        return Path(args.data).resolve()
    label = "".join(c for c in args.size if c.isalnum() or c == ".")
    out = Path(tempfile.gettempdir()) / "wordcount-bench" / f"{label}-{args.files}f-s0"
    cmd = [sys.executable, str(GENERATOR), str(out), "--size", args.size, "--files", str(args.files),
           "--force"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise BenchError(f"data/generate.py failed: {error_line(done.stderr, done.stdout, done.returncode)}")
    log.info("%s", (done.stderr or done.stdout).strip() or f"corpus in {out}")
    return out


# -- measuring --------------------------------------------------------------------
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


def error_line(stderr: str, stdout: str, rc: int) -> str:
    """The line that says what went wrong: the exception of a traceback, else the first line."""
    lines = [ln.strip() for ln in (stderr or stdout or "").splitlines() if ln.strip()]
    if not lines:
        return f"exit status {rc}"
    if any(ln.startswith("Traceback") for ln in lines):
        return lines[-1]
    errors = [ln for ln in lines if ln.lower().startswith(("error", "job failed"))]
    return (errors or lines)[0]


# -- runs -------------------------------------------------------------------------
@dataclass(frozen=True)
class Config:
    """One row of the table: how to run it."""

    name: str
    kind: str  # serial, batch, stream
    argv: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()  # extra environment of the job


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
    record: dict = field(default_factory=dict)
    redis: dict = field(default_factory=dict)


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
            "--output", str(output), "--record", str(record)]  # the server: $REDIS_URL, not argv
    if bench.args.config:
        argv += ["--config", bench.args.config]
    return argv


def run_process(argv: list[str], timeout: float, env: dict[str, str]) -> tuple[int, str, str, float]:
    """(exit status, stdout, stderr, wall seconds); the whole process group dies on timeout."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, **env})
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        procs.kill(proc)
        out, err = proc.communicate()
        err += f"\nerror: timed out after {timeout:.0f}s"
    except BaseException:  # Ctrl-C: the job is in its own session and did not get it
        procs.stop(proc, grace=3.0)  # SIGTERM: the client stops its workers and server
        raise
    return proc.returncode, out, err, time.perf_counter() - t0


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
    """Run one job in a subprocess, then measure Redis and check the output."""
    stem = f"{config.name.replace(' ', '_')}.{index}"
    output, record = bench.work / f"{stem}.tsv", bench.work / f"{stem}.json"
    bench.meter.reset()
    cpu0 = children_cpu()
    rc, out, err, seconds = run_process(job_argv(bench, config, output, record), bench.args.timeout,
                                        {"REDIS_URL": bench.url, **dict(config.env)})
    run = Run(config.name, seconds, cpu_s=children_cpu() - cpu0, load1=os.getloadavg()[0])
    run.redis = bench.meter.read()
    (bench.work / f"{stem}.log").write_text(out + err, encoding="utf-8")
    if rc != 0:
        run.ok, run.error = False, error_line(err, out, rc)
        return run
    run.record = json.loads(record.read_text(encoding="utf-8")) if record.exists() else {}
    run.check = verify(bench, output)
    output.unlink(missing_ok=True)  # tables are large; the log and record stay
    return run


def configs(args: argparse.Namespace) -> list[Config]:
    rows = [Config(f"batch {n} worker{'s' if n > 1 else ''}", "batch", ("--workers", str(n)))
            for n in args.workers]
    if not args.no_stream:
        rows += [
            Config("stream 2x2 ckpt 0.5s", "stream", (*STREAM_BASE, "--checkpoint-interval", "0.5")),
            Config(NO_AUTH, "stream", (*STREAM_BASE, "--checkpoint-interval", "0.5"),
                   (("WC_INSECURE_NO_AUTH", "1"),)),  # only to measure what frame authentication costs
            Config("stream 2x2 ckpt off", "stream", (*STREAM_BASE, "--checkpoint-interval", "0")),
            Config("stream 2x2 kill mapper-0", "stream",
                   (*STREAM_BASE, "--checkpoint-interval", "0.5", *KILL_ARGS)),
        ]
    return rows


def run_all(bench: Bench) -> dict[str, list[Run]]:
    """Every configuration `repeat` times, interleaved; the stream job is dropped at its first failure."""
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


# -- reporting --------------------------------------------------------------------
def pick(runs: list[Run], stat: str) -> Run:
    """The median (upper middle) or the fastest of the successful runs, else the first."""
    good = sorted((r for r in runs if r.ok), key=lambda r: r.seconds)
    if not good:
        return runs[0]
    return good[0] if stat == "best" else good[len(good) // 2]


RECOVERY_KEYS = ("resume_after_s", "recovery_s", "duration_s", "seconds")


def recoveries(record: dict) -> list[float]:
    """Recovery durations (s) from a stream record's "recoveries" list.

    docs/lab2.md: each entry has resume_after_s, the time from the kill until
    the job made progress again (at_s is when the kill happened, not a
    duration). Plain numbers are taken as durations.
    """
    out: list[float] = []
    for item in record.get("recoveries") or []:
        if isinstance(item, (int, float)):
            out.append(float(item))
        elif isinstance(item, dict):
            values = [item[k] for k in RECOVERY_KEYS if isinstance(item.get(k), (int, float))]
            if values:
                out.append(float(values[0]))
    return out


def recovery_note(record: dict) -> str:
    """'recovery 0.27s (detected after 0.02s)' for each recovery of a stream run."""
    items = [i for i in record.get("recoveries") or [] if isinstance(i, dict)]
    durations = recoveries(record)
    if not durations:
        return "recovery: none recorded (did the kill happen before the job ended?)"
    parts = []
    for i, seconds in enumerate(durations):
        detected = items[i].get("detected_after_s") if i < len(items) else None
        parts.append(f"{seconds:.2f}s" + (f" (detected after {detected:.2f}s)" if isinstance(detected, (int, float)) else ""))
    return "recovery " + ", ".join(parts)


def trace_phases(record: dict) -> dict[str, float] | None:
    """Where a batch run's time went, from its trace: start-up, work, imbalance, tail.

    start = run start to the first file read by a worker (Redis, enqueue, the
    first snapshot, worker start-up); work = first read to last commit;
    imbalance = last commit minus the earliest moment any worker ran out of work
    (its last commit, or its start if it never committed); tail = last commit to job done (exit
    detection, reading the table).
    """
    try:
        from wordcount import trace

        events = trace.read_trace(record["trace"])
    except (ImportError, KeyError, TypeError, OSError):
        return None
    first = {e["ev"]: e["t"] for e in reversed(events)}
    reads = [e["t"] for e in events if e["ev"] == trace.READ]
    last_active: dict[str, float] = {}  # worker -> its last commit (or its start if none)
    for e in events:
        if e["proc"] != "client" and (e["ev"] == trace.COMMIT or e["ev"] == trace.START):
            last_active[e["proc"]] = e["t"]
    commits = [e["t"] for e in events if e["ev"] == trace.COMMIT]
    if not reads or not commits or trace.RUN_START not in first or trace.JOB_DONE not in first:
        return None
    end = max(commits)
    return {"start_s": min(reads) - first[trace.RUN_START], "work_s": end - min(reads),
            "imbalance_s": end - min(last_active.values()), "tail_s": first[trace.JOB_DONE] - end}


def redis_cell(run: Run, key: str) -> str:
    stat = run.redis.get("commandstats", {}).get(key)
    return f"{stat['calls']} x {stat['usec_per_call']:.1f}us" if stat else "-"


def summary_rows(runs: dict[str, list[Run]], serial_s: float, files: int, stat: str) -> list[dict]:
    rows = []
    for name, group in runs.items():
        run = pick(group, stat)
        commands = run.redis.get("commands")
        rec = recoveries(run.record)
        note = run.error or ""
        if "kill" in name and run.ok:
            note = recovery_note(run.record)
        rows.append({
            "run": name, "seconds": run.seconds, "ratio": run.seconds / serial_s if serial_s else 0.0,
            "ok": run.ok, "job_s": run.record.get("elapsed_s"), "cpu_s": run.cpu_s,
            "redis_cpu_s": run.redis.get("redis_cpu_s"),
            "commands_per_file": commands / files if commands and files else None,
            "fcall": redis_cell(run, "fcall"), "hincrby": redis_cell(run, "hincrby"),
            "check": run.check, "load1": run.load1, "recoveries_s": rec, "note": note,
            "phases": trace_phases(run.record) if name.startswith("batch") else None,
            "times": [round(r.seconds, 3) for r in group],
        })
    return rows


def fmt(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def print_table(rows: list[dict], header: str) -> None:
    print(header)
    cols = f"{'run':<26}{'time s':>8}{'x serial':>10}{'job s':>8}{'cpu s':>8}{'redis cpu':>10}" \
           f"{'cmds/file':>11}  {'FCALL':<18}{'HINCRBY':<18}{'load':>5}  check"
    print(cols)
    print("-" * len(cols))
    for r in rows:
        if not r["ok"]:
            print(f"{r['run']:<26}  failed: {r['note']}")
            continue
        print(f"{r['run']:<26}{r['seconds']:>8.2f}{r['ratio']:>9.2f}x{fmt(r['job_s']):>8}{fmt(r['cpu_s']):>8}"
              f"{fmt(r['redis_cpu_s']):>10}{fmt(r['commands_per_file'], '.0f'):>11}  {r['fcall']:<18}"
              f"{r['hincrby']:<18}{r['load1']:>5.2f}  {r['check']}"
              + (f"  {r['note']}" if r["note"] else ""))


def print_phases(rows: list[dict]) -> None:
    """The trace-derived split of each batch run (skipped if runs are not traced)."""
    traced = [r for r in rows if r.get("phases")]
    if not traced:
        return
    print(f"\n{'batch phases (from trace)':<26}{'start':>8}{'work':>8}{'imbal.':>8}{'tail':>8}   seconds")
    for r in traced:
        ph = r["phases"]
        print(f"{r['run']:<26}{ph['start_s']:>8.2f}{ph['work_s']:>8.2f}{ph['imbalance_s']:>8.2f}{ph['tail_s']:>8.2f}")


def target_line(rows: list[dict]) -> str:
    name = f"batch {TARGET_WORKERS} workers"
    row = next((r for r in rows if r["run"] == name and r["ok"]), None)
    if row is None:
        return f"target: no successful '{name}' run to compare"
    verdict = "PASS" if row["ratio"] <= TARGET_RATIO else "MISS"
    return f"target: {name} <= {TARGET_RATIO:g}x serial: {verdict} ({row['ratio']:.2f}x)"


def auth_line(rows: list[dict]) -> str:
    """What authenticating every Lab 2 frame costs: the stream job with and without HMAC."""
    by = {r["run"]: r for r in rows if r["ok"]}
    with_, without = by.get("stream 2x2 ckpt 0.5s"), by.get(NO_AUTH)
    if not with_ or not without:
        return "auth: no pair of stream runs with and without HMAC to compare"
    return (f"auth: stream {with_['ratio']:.2f}x serial with HMAC, {without['ratio']:.2f}x without: "
            f"overhead {with_['seconds'] / without['seconds']:.3f}x")


def machine() -> dict[str, Any]:
    return {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "redis": myrds.find_binary()[1]}


def run_benchmark(args: argparse.Namespace) -> int:
    data = ensure_data(args)
    os.makedirs(REPO / ".wc-run", exist_ok=True)  # git-ignored, like every job's run directory
    work = Path(tempfile.mkdtemp(prefix="bench-", dir=REPO / ".wc-run"))
    meter = RedisMeter(work)
    bench = Bench(args, data, work, meter)
    load_start = os.getloadavg()
    try:
        bench.url = meter.start()
        runs = run_all(bench)
    finally:
        meter.stop()
    if bench.stream_error is not None:  # reported in one line below, not as failed rows
        runs = {name: group for name, group in runs.items() if not name.startswith("stream")}
    serial_s = pick(runs["serial"], args.stat).seconds
    rows = summary_rows(runs, serial_s, bench.files, args.stat)
    load_end = os.getloadavg()
    header = (f"corpus: {bench.files} files, {bench.bytes / 1e6:.1f} MB in {data}\n"
              f"machine: {os.cpu_count()} cores, load average {' '.join(f'{x:.2f}' for x in load_start)} "
              f"at start, {' '.join(f'{x:.2f}' for x in load_end)} at end; "
              f"{args.stat} of {args.repeat} run(s); config {args.config or 'config.json'}\n"
              "time = wall clock of `python client.py ...` (start-up included); job s = elapsed_s of its "
              "record;\ncpu s = client + workers; cmds/file = Redis commands per input file, including "
              "those run inside FCALL")
    print_table(rows, header)
    print_phases(rows)
    if bench.stream_error is not None:
        print(f"stream: unavailable ({bench.stream_error})")
    print(target_line(rows))
    print(auth_line(rows))
    mismatches = [r["run"] for r in rows if r["check"].startswith("MISMATCH")]
    if mismatches:
        print(f"!!! MISMATCH: {', '.join(mismatches)} differ from the serial count !!!")
    if args.json:
        save_json(args.json, bench, rows, runs, load_start, load_end)
    shutil.rmtree(work / "redis", ignore_errors=True)
    log.info("logs and run records in %s", work)
    return 1 if mismatches else 0


def save_json(path: str, bench: Bench, rows: list[dict], runs: dict[str, list[Run]],
              load_start: tuple, load_end: tuple) -> None:
    doc = {"machine": machine(), "load_start": load_start, "load_end": load_end,
           "data": {"path": str(bench.data), "files": bench.files, "bytes": bench.bytes},
           "options": {k: v for k, v in vars(bench.args).items() if k != "log_level"},
           "summary": rows, "target": target_line(rows), "stream_unavailable": bench.stream_error,
           "runs": {name: [vars(r) for r in group] for name, group in runs.items()}}
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2, default=str)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
        logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        return run_benchmark(args)
    except (BenchError, UserError) as exc:
        print(f"benchmark.py: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

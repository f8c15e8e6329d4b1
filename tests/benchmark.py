"""Benchmark: the serial count against the batch and streaming jobs, on one corpus.

    python tests/benchmark.py [--data DIR | --size 50MB --files 200] [--repeat 3]
                              [--workers 1,2,4] [--json FILE] [--config FILE] [--no-stream]

Everything runs in this one process tree, on the same files, one run at a
time: the serial count in-process (wordcount.table.serial_count, the
reference every job must equal), then each job as `python client.py ...`
(through kit.run, like the grader's and the test suite's jobs) timed by wall
clock, so process start-up, Redis round trips and writing the output all
count, as they do for a user. Repetitions are interleaved across the
configurations so that load from other users of the machine spreads over all
of them instead of spoiling one. The corpus comes from the project's one
generator (kit.corpus.synthetic: what `data/generate.py` makes).

The batch jobs use a Redis server this script starts (myrds.start_private)
and passes with --redis-url, so that CONFIG RESETSTAT before and INFO after
each run measure exactly that run: commands per input file (Redis counts the
commands a function runs, so one FCALL with N words counts as 1 + N + ...),
the server's CPU time, and the per-command cost of FCALL and HINCRBY.

Not a pytest test (its name does not start with test_): the numbers depend on
the machine and its load, which is printed with them. The parts are in
tests/kit/bench/ (measure.py runs, report.py prints); run as a script, tests/
is sys.path[0], so they import as `kit.bench`.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import NoReturn, Sequence

from kit.bench.measure import REPO, Bench, BenchError, RedisMeter, ensure_data, run_all
from kit.bench.report import (
    TARGET_RATIO,
    TARGET_WORKERS,
    pick,
    print_phases,
    print_table,
    save_json,
    summary_rows,
    target_line,
)

from wordcount.errors import UserError

log = logging.getLogger("benchmark")

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
    mismatches = [r["run"] for r in rows if r["check"].startswith("MISMATCH")]
    if mismatches:
        print(f"!!! MISMATCH: {', '.join(mismatches)} differ from the serial count !!!")
    if args.json:
        save_json(args.json, bench, rows, runs, load_start, load_end)
    shutil.rmtree(work / "redis", ignore_errors=True)
    log.info("logs and run records in %s", work)
    return 1 if mismatches else 0


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

"""Benchmark: the serial count against Pool(2), the batch and the streaming jobs, on one corpus.

    python tests/benchmark.py [--data DIR | --size 50MB --files 200] [--repeat 3]
                              [--workers 1,2,4] [--json FILE] [--config FILE] [--no-stream] [--no-small-job]
                              [--scaling [--scaling-sizes 10MB,50MB,200MB] [--png FILE|docs]]

Everything runs in this one process tree, on the same files, one run at a
time: the serial count as the script a user would run instead of a job
(kit/bench/serial_count.py: wordcount.table.serial_count, the reference every
job must equal, then the table written), the same count over
multiprocessing.Pool(2) (what two cores give without Redis), then each job as
`python client.py ...` (through kit.run, like the grader's and the test
suite's jobs). The serial script and the jobs are timed alike, by wall clock
from outside, so process start-up, Redis round trips and writing the output
count on both sides of a ratio, as they do for a user; the count alone,
inside this process, is printed too (`count only, in-process`), to show what
start-up and output cost. Repetitions are interleaved across the
configurations so that load from other users of the machine spreads over all
of them instead of spoiling one, and each ratio is the median over rounds of
a run's time over the serial time of its own round. The corpus comes from the
project's one generator (kit.corpus.synthetic: what `data/generate.py`
makes), or --data. Every run reports its ratio to the serial count rather
than only its time, since the time depends on the machine and its load far
more than the ratio does. A last section times a job over one tiny file
(kit/bench/small_job.py), in seconds: there a fixed cost is everything.

Per run it also reports the peak resident memory (VmHWM) of every process
(kit.bench.rss), the entries stolen by batch workers (`stolen`, and
`stolen_live` where the run record has it: taken from workers still alive),
and, from a stream run with WC_INSECURE_NO_AUTH=1 (that job only), what
frame authentication costs. --scaling adds a table of ratios over corpus
sizes and one huge file (kit.bench.scaling), drawn by --png.

The batch jobs use a Redis server this script starts (myrds.start_private)
and passes in $REDIS_URL, so that CONFIG RESETSTAT before and INFO after
each run measure exactly that run: commands per input file (Redis counts the
commands a function runs, so one FCALL with N words counts as 1 + N + ...),
the server's CPU time, and the per-command cost of FCALL and HINCRBY.

Not a pytest test (its name does not start with test_): the numbers depend on
the machine and its load, which is printed with them; tests/test_benchmark.py
runs it on tiny corpora and checks only the shape of its report. The parts are in
tests/kit/bench/ (measure.py runs, report.py prints); run as a script, tests/
is sys.path[0], so they import as `kit.bench`.
"""
from __future__ import annotations

import argparse
import compileall
import logging
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import NoReturn, Sequence

from kit.bench.measure import REPO, Bench, BenchError, RedisMeter, ensure_data
from kit.bench.plot import write_png
from kit.bench.report import (
    TARGET_RATIO,
    TARGET_WORKERS,
    auth_line,
    print_phases,
    print_rss,
    print_table,
    save_json,
    summary_rows,
    target_lines,
)
from kit.bench.rounds import run_all
from kit.bench.scaling import DEFAULT_SIZES, print_scaling, run_scaling, scaling_mismatches
from kit.bench.small_job import print_small_jobs, run_small_jobs

from wordcount.corpus import parse_size
from wordcount.errors import UserError

log = logging.getLogger("benchmark")
DOCS_PNG = REPO / "docs" / "benchmark-scaling.png"

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


def size_list(text: str) -> list[str]:
    """'10MB,50MB' -> ['10MB', '50MB'], each checked by the generator's own size parser."""
    sizes = [v.strip() for v in text.split(",") if v.strip()]
    if not sizes:
        raise argparse.ArgumentTypeError(f"expected sizes like 10MB,50MB,200MB (got {text!r})")
    for size in sizes:
        try:
            parse_size(size)
        except UserError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return sizes


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1 (got {text!r})")
    return int(text)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = OneLineParser(
        prog="benchmark.py",
        description="Time the serial count, multiprocessing.Pool(2), the batch job with 1, 2, 4 workers "
        "and the streaming job (with and without frame authentication) on the same corpus; print each "
        "time with its ratio to the serial time, peak memory per process and stolen entries.",
        epilog="Targets on a mixed corpus (2 cores): the batch job with "
        f"{TARGET_WORKERS} workers at most 1.2x the serial time, the streaming job 2x2 at most 1.0x; "
        f"on many small files the batch job at most {TARGET_RATIO:g}x; a batch job over one tiny file "
        "at most 0.5 s.")
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
    parser.add_argument("--no-stream", action="store_true", help="skip the streaming jobs (and the auth line)")
    parser.add_argument("--no-small-job", action="store_true",
                        help="skip the small-job section (one tiny file, private Redis, at least 3 rounds)")
    parser.add_argument("--timeout", type=positive_int, default=600, metavar="S",
                        help="give up on one job after S seconds (default: 600)")
    parser.add_argument("--scaling", action="store_true",
                        help="also run the scaling table: Pool(2), batch with --workers, stream 2x2 on "
                        "corpora of each --scaling-sizes and on one file of the largest (takes long)")
    parser.add_argument("--scaling-sizes", type=size_list, default=list(DEFAULT_SIZES), metavar="LIST",
                        help=f"corpus sizes of the scaling table (default: {','.join(DEFAULT_SIZES)})")
    parser.add_argument("--png", metavar="FILE", help="with --scaling: draw it to FILE "
                        f"('docs': {DOCS_PNG.relative_to(REPO)}; needs matplotlib)")
    parser.add_argument("--work", metavar="DIR", help="where logs and run records go "
                        "(default: a new .wc-run/bench-* directory)")
    parser.add_argument("--json", metavar="FILE", help="also save every run and the summary as JSON")
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    args = parser.parse_args(argv)
    if args.config and not os.path.isfile(args.config):
        parser.error(f"config file {args.config!r} not found")
    if args.config:
        args.config = os.path.abspath(args.config)
    if args.png and not args.scaling:
        parser.error("--png draws the scaling table: add --scaling")
    if args.png:
        args.png = DOCS_PNG if args.png == "docs" else Path(args.png).resolve()
    return args


def compile_bytecode(root: Path) -> bool:
    """Compile the project's modules (the serial script's included) before
    anything is timed, as any run after a user's first finds them. Where
    PYTHONDONTWRITEBYTECODE is set (this sandbox sets it; so do some lab
    images) no run ever writes them, so every process of every run compiles
    each module it imports afresh: measured at 7 % of a batch job's time on
    many small files, more for the streaming job's six processes, and
    nothing like what a user sees. compileall writes them regardless."""
    skip = re.compile(r"[/\\](\.git|\.wc-run|data|__pycache__)([/\\]|$)")
    return bool(compileall.compile_dir(str(root), quiet=1, rx=skip))


def run_benchmark(args: argparse.Namespace) -> int:
    data = ensure_data(args)
    compiled = compile_bytecode(REPO)
    work = work_dir(args)
    meter = RedisMeter(work)
    bench = Bench(args, data, work, meter)
    load_start = os.getloadavg()
    scaling: list[dict] = []
    small: dict = {}
    try:
        bench.url = meter.start()
        runs = run_all(bench)
        if not args.no_small_job:
            small = run_small_jobs(bench, max(3, args.repeat))
        if args.scaling:
            scaling = run_scaling(bench)
    finally:
        meter.stop()
    if bench.stream_error is not None:  # reported in one line below, not as failed rows
        runs = {name: group for name, group in runs.items() if not name.startswith("stream")}
    rows = summary_rows(runs, bench.files, args.stat)
    load_end = os.getloadavg()
    header = (f"corpus: {bench.files} files, {bench.bytes / 1e6:.1f} MB in {data}\n"
              f"machine: {os.cpu_count()} cores, load average {' '.join(f'{x:.2f}' for x in load_start)} "
              f"at start, {' '.join(f'{x:.2f}' for x in load_end)} at end; "
              f"{args.stat} of {args.repeat} run(s); config {args.config or 'config.json'}; project bytecode "
              f"{'compiled before timing' if compiled else 'NOT all compiled (see the log)'}\n"
              "time = wall clock of the process, start-up and writing the table included (serial: the "
              "serial count script; jobs: `python client.py ...`);\nx serial = median over rounds of "
              "time / serial time of the same round; job s = elapsed_s of its record; cpu s = all its "
              "processes;\ncmds/file = Redis commands per input file, including those run inside FCALL")
    print_table(rows, header)
    print_phases(rows)
    print_rss(rows)
    if bench.stream_error is not None:
        print(f"stream: unavailable ({bench.stream_error})")
    elif not args.no_stream:
        print(auth_line(rows))
    for line in target_lines(rows):
        print(line)
    print_small_jobs(small)
    print_scaling(scaling, args.repeat)
    if args.png:
        print(write_png(scaling, args.png, f"ratio to the serial count; {os.cpu_count()} cores, load "
                        f"{load_start[0]:.1f}-{load_end[0]:.1f}, {args.repeat} round(s)"))
    mismatches = [r["run"] for r in rows if r["check"].startswith("MISMATCH")] + scaling_mismatches(scaling)
    if mismatches:
        print(f"!!! MISMATCH: {', '.join(mismatches)} differ from the serial count !!!")
    if args.json:
        save_json(args.json, bench, rows, runs, load_start, load_end, scaling, small)
    shutil.rmtree(work / "redis", ignore_errors=True)
    log.info("logs and run records in %s", work)
    return 1 if mismatches else 0


def work_dir(args: argparse.Namespace) -> Path:
    """--work, or a new directory under the git-ignored .wc-run, like every job's run directory."""
    if args.work:
        os.makedirs(args.work, exist_ok=True)
        return Path(args.work).resolve()
    os.makedirs(REPO / ".wc-run", exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="bench-", dir=REPO / ".wc-run"))


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

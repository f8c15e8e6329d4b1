"""The baselines: the serial count, and multiprocessing.Pool(2) in this process.

The serial count is the reference every job must equal and the denominator
of every ratio. It runs as the script a user would run instead of a job
(serial_count.py: find the inputs, wordcount.table.serial_count, write the
table), timed from outside by wall clock exactly like a job, so both sides of
a ratio pay Python's start-up and writing the output. Its table is what every
job is checked against. `count_only_once` times the count alone inside this
process, for the record: what start-up and output cost. Pool(2) is what a student
would write first for two cores: the same count_file mapped over the files
by two pool processes and merged with Counter in this one. It is timed as a
whole, pool start-up and shutdown included, because a job's time includes
starting its workers too; and it must equal the serial table like any job.

Peak memory: this process's high-water mark is reset just before each run
(rss.reset_hwm), so it is that run's; each pool process reports its own
after each file (its last report is its peak). Where the kernel cannot reset
it, the role says the value is the benchmark's lifetime's.
"""
from __future__ import annotations

import multiprocessing
import os
import resource
import sys
import time
from pathlib import Path
from collections import Counter

from kit.bench.measure import REPO, Bench, BenchError, Run, children_cpu, compare, run_timed
from kit.bench.rss import read_hwm_kb, reset_hwm

from wordcount.config import Settings, load_settings
from wordcount.inputs import InputFile, find_inputs
from wordcount.table import read_table, serial_count
from wordcount.tokenize import TokenizerSpec, count_file

POOL_PROCESSES = 2
SERIAL_SCRIPT = Path(__file__).with_name("serial_count.py")
COUNT_ONLY = "count only, in-process"


def settings_of(bench: Bench) -> Settings:
    """The jobs' own settings (extensions, CSV column, tokenizer), so the baselines count the same words."""
    return load_settings(bench.args.config or str(REPO / "config.json"))


def inputs_of(bench: Bench, settings: Settings) -> list[InputFile]:
    return find_inputs(str(bench.data), tuple(settings.extensions), settings.csv_text_column)


def own_peak(role: str, reset: bool) -> dict[str, int]:
    """This process's peak since `reset` (or since it started, named so, if resetting failed)."""
    kb = read_hwm_kb()
    if kb is None:  # no /proc: the kernel's own lifetime maximum (kB on Linux)
        kb, reset = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, False
    return {role if reset else f"{role} (since start)": kb}


def cpu_now() -> float:
    """CPU seconds of this process and its reaped children (the pool processes, once joined)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime + children_cpu()


def serial_once(bench: Bench) -> Run:
    """The serial count script (serial_count.py) as a process, timed like a job; its table becomes
    the reference the jobs of this round are checked against."""
    settings = settings_of(bench)
    bench.expected = Counter()  # the last round's table would count in this process's memory
    output = bench.work / f"{bench.label}serial.tsv"
    config = bench.args.config or str(REPO / "config.json")
    done, rss, cpu = run_timed(bench, [sys.executable, str(SERIAL_SCRIPT), str(bench.data), str(output), config],
                               {**os.environ, "PYTHONPATH": str(REPO)}, bench.work / f"{bench.label}serial.log", {})
    if done.timed_out or done.exit_code != 0:
        raise BenchError(f"the serial count failed: {done.last_error}")
    bench.expected = Counter(read_table(str(output)))
    output.unlink(missing_ok=True)
    inputs = inputs_of(bench, settings)
    bench.files, bench.bytes = len(inputs), sum(f.size for f in inputs)
    return Run("serial", done.duration_s, cpu_s=cpu, load1=os.getloadavg()[0],
               rss_kb={"serial count" if role == "client" else role: kb for role, kb in rss.items()})


def count_only_once(bench: Bench) -> Run:
    """find_inputs + serial_count inside this process: no start-up, no output written. Not a
    yardstick (a user runs a script, not a function); printed to show what those cost."""
    settings = settings_of(bench)
    reset = reset_hwm()
    cpu0, t0 = cpu_now(), time.perf_counter()
    counts = serial_count((f.path for f in inputs_of(bench, settings)), settings.tokenizer_spec())
    seconds = time.perf_counter() - t0
    run = Run(COUNT_ONLY, seconds, cpu_s=cpu_now() - cpu0, load1=os.getloadavg()[0],
              rss_kb=own_peak("benchmark", reset))
    run.check = compare(bench, counts, COUNT_ONLY)
    return run


def count_one(task: tuple[str, TokenizerSpec]) -> tuple[Counter[str], int, int]:
    """One file's counts, in a pool process, with that process's pid and peak so far."""
    path, spec = task
    return count_file(path, spec).counts, os.getpid(), read_hwm_kb() or 0


def pool_once(bench: Bench, name: str) -> Run:
    """The files mapped over Pool(2) with count_file and merged here; timed from before the pool starts
    until it has shut down, and checked against the serial count."""
    settings = settings_of(bench)
    spec = settings.tokenizer_spec()
    reset = reset_hwm()
    cpu0, t0 = cpu_now(), time.perf_counter()
    inputs = inputs_of(bench, settings)
    total: Counter[str] = Counter()
    workers: dict[int, int] = {}
    tasks = [(f.path, spec) for f in inputs]
    chunk = max(1, len(tasks) // (4 * POOL_PROCESSES))  # what Pool.map would choose
    with multiprocessing.Pool(POOL_PROCESSES) as pool:
        for counts, pid, kb in pool.imap_unordered(count_one, tasks, chunksize=chunk):
            total.update(counts)
            workers[pid] = max(workers.get(pid, 0), kb)
        pool.close()
        pool.join()
    seconds = time.perf_counter() - t0
    rss = {**own_peak("parent", reset), **({"pool process": max(workers.values())} if workers else {})}
    run = Run(name, seconds, cpu_s=cpu_now() - cpu0, load1=os.getloadavg()[0], rss_kb=rss)
    run.check = compare(bench, total, name)
    return run

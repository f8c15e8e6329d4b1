"""Shared test support for both labs: running the client, configs, the
independent serial count, table comparison, run records, and (from kit.tags)
tracking every process a test started (each carries WC_TEST_TAG=<the test's
tag> in its environment). Corpora come from kit.corpus, subprocesses run
through kit.run, like the grader's and the benchmark's.

Public API (used by the Lab 1 and Lab 2 suites):
    REPO, TAG_ENV, TEST_DEFAULTS
    current_tag(), new_tag(name)
    run_client(args, *, cwd=None, timeout=120, env=None) -> kit.run.Finished (returncode, stdout, stderr)
    start_client(args, *, cwd=None, env=None) -> kit.run.Job   (for signals mid-run)
    stop_client(job, timeout) -> (stdout, stderr)            (wait; fail the test on timeout)
    run_command(argv, *, cwd=None, timeout=120, env=None, term_grace_s=3) -> Finished  (e.g. tests/grade.py)
    describe(result) -> str                                  (exit status and output, for messages)
    serial(data_dir, tokenizer="split", csv_column="text") -> Counter
    assert_same_table(expected, actual)
    make_corpus(dir, n_files=20, seed=0, words_per_file=2000, csv_files=0) -> Path
    write_config(dir, *, filename="config.json", defaults=True, **settings) -> Path
    read_output(path) -> dict
    read_record(path) -> RunRecord
    run_batch(cwd, data, *args, timeout=60, expect_exit=0) -> (result, table, record)   (Lab 1)
    slow_workers(workers, seconds, generations=5) -> crash setting; worker_log(cwd, name) -> str
    job_dirs(run_dir) -> list[Path]
    tagged_processes(tag=None, cmd_contains=None) -> list[psutil.Process]
    register_root(path, tag=None)   (processes with cwd under path count as the test's)
    listening_ports(procs) -> list[(pid, port)]
    port_listening(port) -> bool
    kill_tagged(tag=None) -> list[str]  (command lines killed)
    check_nothing_left(tag, grace=2.0)   (what the autouse fixture runs after each test)
    wait_until(predicate, timeout, what) -> value
"""
from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pytest
from kit.corpus import make_corpus
from kit.run import TERM_GRACE_S, Finished, Job
from kit.tags import (
    TAG_ENV,
    check_nothing_left,
    current_tag,
    forget_roots,
    kill_tagged,
    listening_ports,
    new_tag,
    port_listening,
    register_root,
    tagged_processes,
)

from wordcount.inputs import find_inputs
from wordcount.record import RunRecord
from wordcount.table import diff_report, read_table, serial_count
from wordcount.tokenize import TokenizerSpec

__all__ = [
    "REPO", "TAG_ENV", "TEST_DEFAULTS", "assert_same_table", "check_nothing_left", "current_tag", "describe",
    "forget_roots", "job_dirs", "kill_tagged", "listening_ports", "make_corpus", "new_tag", "port_listening",
    "read_output", "read_record", "register_root", "run_batch", "run_client", "run_command", "serial",
    "slow_workers", "start_client", "start_command", "stop_client", "tagged_processes", "wait_until", "worker_log",
    "write_config",
]

REPO = Path(__file__).resolve().parent.parent
CLIENT = REPO / "client.py"

# Small timeouts so fault-tolerance paths run in well under a second each.
TEST_DEFAULTS: dict[str, Any] = {
    "top": 5,
    "log_level": "INFO",
    "batch": {
        "workers": 3,
        "claim_timeout_s": 1.0,
        "block_ms": 200,
        "bgsave_interval_s": 0.3,
        "batch_files": 2,
        "max_replacement_workers": 12,
    },
    "stream": {"max_restarts_per_worker": 12},
}
SECTIONS = ("batch", "stream")  # config.json objects that write_config merges key by key


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.02) -> Any:
    """Poll `predicate` until it returns something truthy; fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# -- running the client (through kit.run) -------------------------------------------
def _tagged_env(env: Mapping[str, str] | None) -> dict[str, str]:
    merged = {**os.environ, **(env or {})}
    merged[TAG_ENV] = current_tag()
    merged.setdefault("PYTHONUNBUFFERED", "1")
    return merged


def start_command(argv: Sequence[Any], *, cwd: str | os.PathLike | None = None,
                  env: Mapping[str, str] | None = None) -> Job:
    """Start any command in the background (own session, output in files), tagged."""
    return Job([str(a) for a in argv], cwd=cwd, env=_tagged_env(env))


def start_client(args: list[Any], *, cwd: str | os.PathLike | None = None,
                 env: Mapping[str, str] | None = None, client: Path = CLIENT,
                 launch: Sequence[str] = ()) -> Job:
    """Start client.py (ours, or another copy's) in the background, tagged; `launch`
    is an argv prefix, e.g. `ip netns exec NS` (tests/kit/netns.py)."""
    return start_command([*launch, sys.executable, client, *args], cwd=cwd, env=env)


def finish(job: Job, timeout: float, term_grace_s: float = TERM_GRACE_S) -> Finished:
    """Wait for a started command; on timeout it is stopped with all it started, and the test fails."""
    done = job.wait(timeout, term_grace_s)
    if done.timed_out:
        leftovers = kill_tagged()  # anything of the test's that escaped the job's session
        pytest.fail(
            f"{' '.join(done.argv[1:])} did not finish within {timeout}s; stopped:\n  "
            + "\n  ".join(done.stopped + leftovers)
            + f"\n--- stdout (tail) ---\n{done.stdout[-3000:]}\n--- stderr (tail) ---\n{done.stderr[-3000:]}"
        )
    return done


def stop_client(proc: Job, timeout: float) -> tuple[str, str]:
    """Wait for the client; on timeout stop its whole tree and fail the test."""
    done = finish(proc, timeout)
    return done.stdout, done.stderr


def run_client(args: list[Any], *, cwd: str | os.PathLike | None = None, timeout: float = 120,
               env: Mapping[str, str] | None = None, client: Path = CLIENT,
               launch: Sequence[str] = ()) -> Finished:
    """Run `python client.py *args` to completion, tagged, capturing text output."""
    return finish(start_client(args, cwd=cwd, env=env, client=client, launch=launch), timeout)


def run_command(argv: Sequence[Any], *, cwd: str | os.PathLike | None = None, timeout: float = 120,
                env: Mapping[str, str] | None = None, term_grace_s: float = TERM_GRACE_S) -> Finished:
    """Run any other command (tests/grade.py, tests/handout.py...) like run_client runs the client."""
    return finish(start_command(argv, cwd=cwd, env=env), timeout, term_grace_s)


def describe(result: Finished) -> str:
    """Exit status and output of a finished command, for assertion messages."""
    return (f"exit {result.exit_code} for {result.argv[2:]}\n--- stdout ---\n{result.stdout[-4000:]}"
            f"\n--- stderr ---\n{result.stderr[-4000:]}")


# -- tables -------------------------------------------------------------------------
def serial(data_dir: str | os.PathLike, tokenizer: str = "split", csv_column: str = "text",
           extensions: tuple[str, ...] = (".txt", ".csv")) -> Counter:
    """The independent reference: one process, no Redis, the shared tokenizer."""
    files = find_inputs(str(data_dir), extensions, csv_column)
    return serial_count((f.path for f in files), TokenizerSpec(tokenizer, csv_column))


def assert_same_table(expected: Mapping[str, int], actual: Mapping[str, int]) -> None:
    """Fail with the first differing words unless the complete tables are equal."""
    if not expected or sum(expected.values()) == 0:
        pytest.fail("the expected table is empty: this comparison could never fail")
    diff = diff_report(expected, actual)
    if diff:
        pytest.fail("word table differs from the serial count:\n" + diff)


def read_output(path: str | os.PathLike) -> dict[str, int]:
    return read_table(str(path))


def read_record(path: str | os.PathLike) -> RunRecord:
    return RunRecord.read(path)


def job_dirs(run_dir: str | os.PathLike) -> list[Path]:
    """The per-job directories (<run_dir>/<job id>) a client created."""
    root = Path(run_dir)
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def started_parts(cwd: str | os.PathLike, prefix: str) -> set[str]:
    """The parts (`mapper-0`, `w1`, ...) whose names start with `prefix` that are at work
    in the jobs run from `cwd`: their `start` trace event. (A part's process exists
    before its go, wordcount/warm.py, so its command line does not tell.)"""
    found: set[str] = set()
    for trace in Path(cwd).glob(".wc-run/*/trace.jsonl"):
        try:
            lines = trace.read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        for line in lines:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:  # the line being written right now
                continue
            if event.get("ev") == "start" and str(event.get("proc", "")).startswith(prefix):
                found.add(event["proc"])
    return found


# -- configs ----------------------------------------------------------------------
def write_config(dir: str | os.PathLike, *, filename: str = "config.json", defaults: bool = True,
                 **settings: Any) -> Path:
    """A JSON config in `dir`. With defaults, TEST_DEFAULTS plus a run_dir and
    output inside `dir`; `settings` override, a `batch={...}` or `stream={...}`
    key by key (use defaults=False for exact files).
    """
    root = Path(dir)
    root.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {}
    if defaults:
        data.update(json.loads(json.dumps(TEST_DEFAULTS)))  # a copy: sections get merged into
        data["run_dir"] = str(root / ".wc-run")
        data["output"] = str(root / "wordcount.tsv")
    for key, value in settings.items():
        merge = key in SECTIONS and isinstance(value, dict) and isinstance(data.get(key), dict)
        data[key] = {**data[key], **value} if merge else value
    path = root / filename
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


# -- Lab 1 batch runs ------------------------------------------------------------------
def run_batch(cwd: str | os.PathLike, data: str | os.PathLike, *args: str, timeout: float = 60,
              expect_exit: int | None = 0, env: Mapping[str, str] | None = None
              ) -> tuple[Finished, dict[str, int], RunRecord]:
    """Run the batch job in `cwd` (which holds config.json, see write_config) on
    `data`; return (result, output table, run record). Checks the exit status
    unless expect_exit is None. A server URL with a password goes in `env`
    ($REDIS_URL), never in `args`: argv is readable by every user."""
    cwd = Path(cwd)
    record = cwd / "record.json"
    if record.exists():
        record.unlink()
    result = run_client(["--config", str(cwd / "config.json"), "--data", str(data),
                         "--record", str(record), *args], cwd=cwd, timeout=timeout, env=env)
    if expect_exit is not None:
        assert result.returncode == expect_exit, describe(result)
    if result.returncode != 0:
        return result, {}, RunRecord()
    settings = json.loads((cwd / "config.json").read_text(encoding="utf-8"))
    output = Path(settings.get("output", cwd / "wordcount.tsv"))
    if "--output" in args:
        output = Path(args[args.index("--output") + 1])
    return result, read_output(cwd / output), read_record(record)


def slow_workers(workers: int, seconds: float, generations: int = 5) -> dict[str, str]:
    """A `batch.crash` setting that makes every worker (w0.. and the replacements
    w0.1.. of the next generations) stall `seconds` before each commit: a
    deterministic way to make a small job last long enough to be shot at."""
    return {f"w{i}{f'.{g}' if g else ''}": f"before_commit=slow:{seconds}"
            for i in range(workers) for g in range(generations)}


def worker_log(cwd: str | os.PathLike, name: str) -> str:
    """The log of worker `name` of the (only) job run in `cwd`."""
    jobs = job_dirs(Path(cwd) / ".wc-run")
    assert len(jobs) == 1, f"expected one job dir under {cwd}/.wc-run, found {jobs}"
    return (jobs[0] / "logs" / f"{name}.log").read_text(encoding="utf-8", errors="replace")


def delivered_entries(conn: Any, keys: Any, n: int) -> list[str]:
    """`n` entries in the job's stream (`keys`: a wordcount.keys.JobKeys), its consumer
    group, and every entry delivered to consumer a-1: what a commit of them needs."""
    ids = [conn.xadd(keys.files, {"path": f"/f{i}", "size": 10}) for i in range(n)]
    conn.xgroup_create(keys.files, keys.group, id="0")
    conn.xreadgroup(keys.group, "a-1", {keys.files: ">"}, count=n)
    return ids

"""Shared test support for both labs: running the client, corpora, configs,
the independent serial count, table comparison, and tracking every process a
test started (each carries WC_TEST_TAG=<the test's tag> in its environment).

Public API (used by the Lab 1 and Lab 2 suites):
    REPO, TAG_ENV, TEST_DEFAULTS
    current_tag(), new_tag(name)
    run_client(args, *, cwd=None, timeout=120, env=None) -> CompletedProcess
    start_client(args, *, cwd=None, env=None) -> Popen      (for signals mid-run)
    stop_client(proc, timeout) -> (stdout, stderr)           (reap; kill tree on timeout)
    serial(data_dir, tokenizer="split", csv_column="text") -> Counter
    assert_same_table(expected, actual)
    make_corpus(dir, n_files=20, seed=0, words_per_file=2000, csv_files=0) -> Path
    write_config(dir, *, filename="config.json", defaults=True, **settings) -> Path
    read_output(path) -> dict
    read_record(path) -> dict
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

import csv
import ctypes
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import psutil
import pytest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from wordcount.inputs import find_inputs  # noqa: E402
from wordcount.table import diff_report, read_table, serial_count  # noqa: E402
from wordcount.tokenize import TokenizerSpec  # noqa: E402

TAG_ENV = "WC_TEST_TAG"
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


# -- test tags and processes --------------------------------------------------
def new_tag(name: str = "test") -> str:
    """A tag unique across concurrent pytest sessions sharing this machine."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:40]
    return f"{safe}-{os.getpid()}-{uuid.uuid4().hex[:10]}"


def current_tag() -> str:
    """The running test's tag (set by the autouse fixture in conftest.py)."""
    tag = os.environ.get(TAG_ENV)
    if not tag:
        tag = new_tag("untagged")
        os.environ[TAG_ENV] = tag
    return tag


def _cmdline(p: psutil.Process) -> str:
    try:
        return " ".join(p.cmdline()).strip() or p.name()
    except psutil.Error:
        return f"<pid {p.pid}>"


_ROOTS: dict[str, list[Path]] = {}  # tag -> directories whose processes are the test's


def register_root(path: str | os.PathLike, tag: str | None = None) -> None:
    """Count processes whose cwd is under `path` as the test's. Needed for Redis,
    which overwrites its environment block (process title) so the tag cannot be
    read back, but which runs with its data dir (inside the test's tmp dir) as cwd."""
    _ROOTS.setdefault(tag or current_tag(), []).append(Path(path).resolve())


def forget_roots(tag: str) -> None:
    _ROOTS.pop(tag, None)


def _is_ours(p: psutil.Process, tag: str, roots: list[Path]) -> bool:
    try:
        if p.environ().get(TAG_ENV) == tag:
            return True
    except psutil.Error:
        pass
    if roots:
        try:
            cwd = Path(p.cwd())
        except (psutil.Error, OSError):
            return False
        return any(cwd == r or r in cwd.parents for r in roots)
    return False


def tagged_processes(tag: str | None = None, cmd_contains: str | None = None) -> list[psutil.Process]:
    """Live (non-zombie) processes of the test: WC_TEST_TAG=tag in their
    environment, or cwd under a registered root, or a descendant of either."""
    tag = tag or current_tag()
    roots = _ROOTS.get(tag, [])
    me = os.getpid()
    found: dict[int, psutil.Process] = {}
    for p in psutil.process_iter():
        if p.pid != me and _is_ours(p, tag, roots):
            found[p.pid] = p
    for p in list(found.values()):
        try:
            found.update((c.pid, c) for c in p.children(recursive=True) if c.pid != me)
        except psutil.Error:
            pass
    out = []
    for p in found.values():
        try:
            if p.status() == psutil.STATUS_ZOMBIE:
                continue
            if cmd_contains and not any(cmd_contains in a for a in p.cmdline()):
                continue
        except psutil.Error:  # gone meanwhile
            continue
        out.append(p)
    return sorted(out, key=lambda p: p.pid)


def listening_ports(procs: Iterable[psutil.Process]) -> list[tuple[int, int]]:
    """(pid, port) of every listening inet socket the given processes hold."""
    out = []
    for p in procs:
        try:
            conns = p.net_connections(kind="inet")
        except psutil.Error:
            continue
        out.extend((p.pid, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN)
    return out


def port_listening(port: int) -> bool:
    """True if any process on this machine listens on TCP `port`."""
    return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port
               for c in psutil.net_connections(kind="tcp"))


def kill_tagged(tag: str | None = None) -> list[str]:
    """SIGKILL every live process carrying `tag`; return their command lines."""
    procs = tagged_processes(tag)
    lines = [f"pid {p.pid}: {_cmdline(p)}" for p in procs]
    for p in procs:
        try:
            p.send_signal(signal.SIGKILL)
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=5)
    return lines


def check_nothing_left(tag: str, grace: float = 2.0) -> None:
    """Fail (after killing them) if processes of `tag` are still alive after `grace` s."""
    deadline = time.monotonic() + grace
    left = tagged_processes(tag)
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = tagged_processes(tag)
    if left:
        ports = listening_ports(left)
        killed = kill_tagged(tag)
        pytest.fail(
            f"{len(killed)} process(es) of this test still alive after it ended (now killed):\n  "
            + "\n  ".join(killed)
            + (f"\nlistening sockets (pid, port): {ports}" if ports else "")
        )


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


# -- running the client ---------------------------------------------------------
def _client_env(env: Mapping[str, str] | None) -> dict[str, str]:
    merged = {**os.environ, **(env or {})}
    merged[TAG_ENV] = current_tag()
    merged.setdefault("PYTHONUNBUFFERED", "1")
    return merged


def _die_with_pytest() -> None:  # in the child between fork and exec
    """If pytest itself is killed (e.g. a hard timeout), take the client along;
    the client's own children follow it through their PDEATHSIG."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def start_client(args: list[str], *, cwd: str | os.PathLike | None = None,
                 env: Mapping[str, str] | None = None, client: Path = CLIENT,
                 launch: Iterable[str] = ()) -> subprocess.Popen:
    """Start client.py (ours, or another copy's) in the background (own process group), tagged;
    `launch` is an argv prefix, e.g. `ip netns exec NS` (tests/kit/netns.py)."""
    return subprocess.Popen(
        [*launch, sys.executable, str(client), *map(str, args)],
        cwd=cwd, env=_client_env(env), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        encoding="utf-8", errors="replace", start_new_session=True, preexec_fn=_die_with_pytest,
    )


def stop_client(proc: subprocess.Popen, timeout: float) -> tuple[str, str]:
    """Wait for the client; on timeout kill its whole tree and fail the test."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    killed = kill_tagged()
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        out, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:  # an untracked process holds the pipes
        out, err = "", "(output unavailable: pipes still held open)"
    pytest.fail(
        f"client {proc.args[2:]} did not finish within {timeout}s; killed:\n  "
        + "\n  ".join(killed)
        + f"\n--- stdout (tail) ---\n{out[-3000:]}\n--- stderr (tail) ---\n{err[-3000:]}"
    )


def run_client(args: list[str], *, cwd: str | os.PathLike | None = None, timeout: float = 120,
               env: Mapping[str, str] | None = None, client: Path = CLIENT,
               launch: Iterable[str] = ()) -> subprocess.CompletedProcess:
    """Run `python client.py *args` to completion, tagged, capturing text output."""
    proc = start_client(args, cwd=cwd, env=env, client=client, launch=launch)
    out, err = stop_client(proc, timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def describe(result: subprocess.CompletedProcess) -> str:
    """Exit status and output of a finished client, for assertion messages."""
    return (f"exit {result.returncode} for {result.args[2:]}\n--- stdout ---\n{result.stdout[-4000:]}"
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


def read_record(path: str | os.PathLike) -> dict:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def job_dirs(run_dir: str | os.PathLike) -> list[Path]:
    """The per-job directories (<run_dir>/<job id>) a client created."""
    root = Path(run_dir)
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


# -- inputs and configs ------------------------------------------------------------
_SYLLABLES = ["ka", "lo", "mi", "ren", "sa", "tor", "vu", "qui", "ne", "dax", "pe", "zol"]
_SPECIAL = ["café", "naïve", "Straße", "日本語", "привет", "Ünïcödé", "señor", "ﬁle", "x²",
            "hello,", "world.", "don't", "e-mail", "C++", "#tag", "UPPER", "upper", "Upper"]


def _vocabulary(rng: random.Random, size: int = 600) -> list[str]:
    words = set()
    while len(words) < size - len(_SPECIAL):
        words.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 4))))
    vocab = sorted(words)
    rng.shuffle(vocab)
    # special words at Zipf-ish ranks spread through the list
    for i, w in enumerate(_SPECIAL):
        vocab.insert(3 + i * 7, w)
    return vocab


def _zipf_words(rng: random.Random, vocab: list[str], n: int) -> list[str]:
    weights = [1.0 / (rank + 1) ** 1.1 for rank in range(len(vocab))]
    return rng.choices(vocab, weights=weights, k=n)


def _lines(words: list[str], rng: random.Random) -> str:
    out, i = [], 0
    while i < len(words):
        k = rng.randint(1, 16)
        sep = rng.choice([" ", " ", " ", "  ", "\t"])
        out.append(sep.join(words[i:i + k]))
        i += k
    return "\n".join(out) + "\n"


def make_corpus(dir: str | os.PathLike, n_files: int = 20, seed: int = 0, words_per_file: int = 2000,
                csv_files: int = 0) -> Path:
    """A deterministic Zipf-ish corpus: `n_files` .txt files (some in a
    subdirectory) plus `csv_files` .csv files whose quoted "text" column holds
    commas, quotes and newlines (other columns hold words that must not count).
    """
    root = Path(dir)
    root.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    vocab = _vocabulary(rng)
    for i in range(n_files):
        sub = root / "part2" if i % 3 == 2 else root
        sub.mkdir(exist_ok=True)
        n = max(1, int(words_per_file * rng.uniform(0.5, 1.5)))
        (sub / f"doc{i:03d}.txt").write_text(_lines(_zipf_words(rng, vocab, n), rng), encoding="utf-8")
    for i in range(csv_files):
        with open(root / f"table{i:03d}.csv", "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["id", "text", "note"])
            remaining = max(1, words_per_file)
            row = 0
            while remaining > 0:
                k = min(remaining, rng.randint(1, 30))
                cell = _lines(_zipf_words(rng, vocab, k), rng).rstrip("\n")
                cell = cell.replace(" ", ", ", 1) if row % 2 else cell
                if row % 5 == 0:
                    cell += ' "quoted"'
                w.writerow([row, cell, f"NOTECOLUMN{row % 3} not, counted"])
                remaining -= k
                row += 1
    return root


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
              expect_exit: int | None = 0) -> tuple[subprocess.CompletedProcess, dict[str, int], dict]:
    """Run the batch job in `cwd` (which holds config.json, see write_config) on
    `data`; return (result, output table, run record). Checks the exit status
    unless expect_exit is None."""
    cwd = Path(cwd)
    record = cwd / "record.json"
    if record.exists():
        record.unlink()
    result = run_client(["--config", str(cwd / "config.json"), "--data", str(data),
                         "--record", str(record), *args], cwd=cwd, timeout=timeout)
    if expect_exit is not None:
        assert result.returncode == expect_exit, describe(result)
    if result.returncode != 0:
        return result, {}, {}
    settings = json.loads((cwd / "config.json").read_text(encoding="utf-8"))
    output = Path(settings.get("output", cwd / "wordcount.tsv"))
    if "--output" in args:
        output = Path(args[args.index("--output") + 1])
    return result, read_output(cwd / output), read_record(record)


def slow_workers(workers: int, seconds: float, generations: int = 5) -> dict[str, str]:
    """A `batch.crash` setting that makes every worker (w0.. and the replacements
    w0.1.. of the next generations) stall `seconds` before each commit: a
    deterministic way to make a small job last long enough to be shot at."""
    return {f"w{i}{f'.{g}' if g else ''}": f"slow={seconds}" for i in range(workers) for g in range(generations)}


def worker_log(cwd: str | os.PathLike, name: str) -> str:
    """The log of worker `name` of the (only) job run in `cwd`."""
    jobs = job_dirs(Path(cwd) / ".wc-run")
    assert len(jobs) == 1, f"expected one job dir under {cwd}/.wc-run, found {jobs}"
    return (jobs[0] / "logs" / f"{name}.log").read_text(encoding="utf-8", errors="replace")

"""Swappable parts: which implementation of each role a run uses.

An instructor grades a student's version of one part against our reference
for the rest by naming it in config.json ("parts": {"worker": "path"}) or with
`--part worker=path`. Each part's contract is in docs/parts.md.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Iterator, Mapping, Sequence

from wordcount import procs, trace
from wordcount.errors import UserError

REPO = Path(__file__).resolve().parent.parent

# part name -> reference implementation (a file, or a package directory), relative to a checkout:
# the grader resolves these against the checkout it grades, which need not be the one it imports.
REFERENCE_IN_REPO: dict[str, str] = {
    "worker": "worker.py",
    "lua": "lua/wordcount.lua",
    "tokenizer": "wordcount/tokenize.py",
    "mapper": "mapper",
    "reducer": "reducer",
    "coordinator": "coordinator",
}
REFERENCE: dict[str, Path] = {name: REPO / rel for name, rel in REFERENCE_IN_REPO.items()}
# The parts a job of each lab runs (Lab 2 loads the Lua library too, but never calls it).
LAB_PARTS: dict[int, tuple[str, ...]] = {
    1: ("worker", "lua", "tokenizer"),
    2: ("coordinator", "mapper", "reducer", "tokenizer"),
}
# Every part process runs through the warm-start launcher (wordcount/warm.py). On Python 3.10, which
# has no -P, a -c bootstrap drops the cwd entry -c put first on sys.path, then runs it as `-m` would.
WARM = "wordcount.warm"
_RUN_WARM = ("import runpy, sys; del sys.path[0]; "
             f"runpy.run_module({WARM!r}, run_name='__main__', alter_sys=True)")
# What each part process imports anyway, whichever implementation: imported while its parent still
# sets up. Only shared libraries, never a part's own modules (a student's code must not run before
# its go).
PRELOAD: dict[str, tuple[str, ...]] = {
    "worker": ("redis", "wordcount.batch.claims", "wordcount.batch.commits", "wordcount.faults.process",
               "wordcount.splits"),
    "mapper": ("redis", "message", "wordcount.stream.worker", "wordcount.splits"),
    "reducer": ("message", "wordcount.stream.worker", "wordcount.stream.checkpoint"),
    "coordinator": ("message", "wordcount.stream.admission", "wordcount.stream.checkpoint",
                    "wordcount.faults.schedules", "wordcount.parts"),
}


def parse_part(spec: str) -> tuple[str, str]:
    """'NAME=PATH' -> (name, absolute path), checked."""
    name, sep, path = spec.partition("=")
    if not sep or not path:
        raise UserError(f"bad --part {spec!r}: use NAME=PATH with NAME one of {', '.join(REFERENCE)}")
    return name, check_part(name, path, "--part")


def check_part(name: str, path: str, where: str) -> str:
    if name not in REFERENCE:
        raise UserError(f"{where}: unknown part {name!r}; parts are {', '.join(REFERENCE)}")
    if not os.path.exists(path):
        raise UserError(f"{where}: part {name} path {path!r} does not exist")
    return os.path.abspath(path)


def resolve(parts: dict, name: str) -> Path:
    """The implementation of `name` this run uses."""
    return Path(parts[name]) if parts.get(name) else REFERENCE[name]


def python_target(path: Path, version: tuple[int, ...] = sys.version_info[:2],
                  preload: Sequence[str] = ()) -> list[str]:
    """argv (after the interpreter) that runs a part given as a file or a package dir,
    through the warm-start launcher (wordcount/warm.py), which waits for its go.

    A file runs like `python FILE` (its directory first on sys.path). A
    package directory runs like `python -P -m <dirname>` with its parent on
    sys.path (see `pythonpath_for`): without -P, -m puts the cwd first on
    sys.path, and a job started from the repository root would then import
    our `mapper/` instead of a student's `mapper/` of the same name. The
    launcher itself starts with -P for the same reason (Python 3.10 has no
    -P: there a `-c` bootstrap removes the cwd entry itself).
    """
    launcher = ["-P", "-m", WARM] if version >= (3, 11) else ["-c", _RUN_WARM]
    if preload:
        launcher += ["--preload", ",".join(preload)]
    return [*launcher, *(["-m", path.name] if path.is_dir() else [str(path)])]


def part_command(cmdline: Sequence[str]) -> list[str]:
    """A part process's command line as if it had been started without the launcher,
    from after the interpreter: [PART_FILE, ARGS...] or ["-m", PACKAGE, ARGS...]
    (for `ps`-style tools: tests, the benchmark). Other command lines lose only
    their first word."""
    args = list(cmdline)
    for i, arg in enumerate(args[:4]):
        bootstrap = arg == "-c" and i + 1 < len(args) and WARM in args[i + 1]
        if arg == WARM or bootstrap:
            rest = args[i + 2:] if bootstrap else args[i + 1:]
            return rest[2:] if rest[:1] == ["--preload"] else rest
    return args[1:]


def pythonpath_for(path: Path) -> str:
    """PYTHONPATH that lets a swapped part import both itself and the reference code."""
    return os.pathsep.join(dict.fromkeys([str(path.parent), str(REPO)]))


class Warm:
    """A part process started ahead of its go (wordcount/warm.py): its interpreter
    starts and imports while the parent finishes setting up; `go` lets it run,
    with the arguments that were not known then; `cancel` ends it before any
    part code ran. The trace sees it spawned at the go, when the part starts
    to exist. (Everything secret is in its environment from the start.)"""

    def __init__(self, proc: subprocess.Popen, label: str) -> None:
        self.proc = proc
        self.label = label
        self.started = False

    def go(self, args: Sequence[str] = (), more: bool = False) -> subprocess.Popen:
        """Run the part, with `args` appended to its argv. With `more` its stdin
        stays open for one more message (`tell`); else it gets EOF now."""
        go: dict = {"args": list(args), **({"stdin": "keep"} if more else {})}
        self.started = True
        procs.feed(self.proc, (json.dumps(go) + "\n").encode(), close=not more)
        trace.event(trace.SPAWN, target=self.label, target_pid=self.proc.pid)
        return self.proc

    def tell(self, data: bytes) -> None:
        """The last thing the part reads on its stdin (after a `go(more=True)`), then EOF."""
        procs.feed(self.proc, data)

    def cancel(self) -> None:
        """Not needed after all: EOF ends it (status 0); stop it if it is still
        importing. Nothing once it got its go (then it is the part's to stop)."""
        if self.started:
            return
        procs.feed(self.proc, b"")
        procs.stop(self.proc, grace=0.5)


def prestart(configured: dict, name: str, args: Sequence[str], *, label: str, log_path: str,
             env: Mapping[str, str] | None = None, stdout: int | None = None,
             launch: Sequence[str] = ()) -> Warm:
    """Start the configured implementation of part `name`, up to its go, as a
    supervised child (own session, dies with us). `args` and `env` are what is
    known now (the go may add arguments; secrets belong in `env`). `label`
    names it in the trace; `launch`
    is an argv prefix that runs it elsewhere (`ip netns exec NS`, a remote
    shell: wordcount/placement.py)."""
    impl = resolve(configured, name)
    full_env = {**os.environ, **(env or {}), "PYTHONPATH": pythonpath_for(impl), **trace.child_env(label)}
    argv = [*launch, sys.executable, *python_target(impl, preload=PRELOAD.get(name, ())), *args]
    return Warm(procs.spawn(argv, log_path=log_path, env=full_env, stdout=stdout, keep_stdin=True), label)


def spawn(configured: dict, name: str, args: Sequence[str], *, label: str, log_path: str,
          env: Mapping[str, str] | None = None, stdout: int | None = None,
          launch: Sequence[str] = ()) -> subprocess.Popen:
    """Start the configured implementation of part `name` now (`prestart`, then
    the go at once) as a supervised, traced child."""
    return prestart(configured, name, args, label=label, log_path=log_path, env=env, stdout=stdout,
                    launch=launch).go()


def load_module(path: Path, label: str) -> ModuleType:
    """Import a Python file as a module (for in-process parts like the tokenizer)."""
    spec = importlib.util.spec_from_file_location(f"wc_part_{label}", path)
    if spec is None or spec.loader is None:
        raise UserError(f"part {label}: cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _part_files(path: Path) -> Iterator[tuple[str, Path]]:
    """(relative POSIX path, file) of every file of a package part, sorted, caches left out."""
    found = [(f.relative_to(path).as_posix(), f) for f in path.rglob("*")
             if f.is_file() and "__pycache__" not in f.relative_to(path).parts]
    yield from sorted(found)


def fingerprint(path: Path) -> str:
    """sha256 that names a part's code, so a grade can be traced to what earned it.

    A file: the sha256 of its bytes. A package directory: the sha256 of one
    line `<relative path>\0<sha256 of the file>\n` per file, sorted by path
    (`__pycache__` left out), so it depends on names and contents only, not
    on timestamps, permissions or where the directory is.
    """
    if not path.is_dir():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    digest = hashlib.sha256()
    for rel, file in _part_files(path):
        digest.update(f"{rel}\0{hashlib.sha256(file.read_bytes()).hexdigest()}\n".encode())
    return digest.hexdigest()

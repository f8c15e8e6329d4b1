"""Swappable parts: which implementation of each role a run uses.

An instructor grades a student's version of one part against our reference
for the rest by naming it in config.json ("parts": {"worker": "path"}) or with
`--part worker=path`. Each part's contract is in docs/parts.md.
"""
from __future__ import annotations

import hashlib
import importlib.util
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
# Run a package part on Python 3.10, which has no -P: drop the cwd entry -c put first on sys.path, then
# run the package (its name is argv[1]) as `-m` would.
_RUN_PACKAGE = ("import runpy, sys; del sys.path[0]; "
                "runpy.run_module(sys.argv.pop(1), run_name='__main__', alter_sys=True)")


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


def python_target(path: Path, version: tuple[int, ...] = sys.version_info[:2]) -> list[str]:
    """argv (after the interpreter) that runs a part given as a file or a package dir.

    A package directory runs as `-m <dirname>` with its parent on sys.path
    (see `pythonpath_for`), but with `-P`: plain `-m` puts the cwd first on
    sys.path, and a job started from the repository root would then import
    our `mapper/` instead of a student's `mapper/` of the same name. Python
    3.10 has no -P; there a `-c` bootstrap removes the cwd entry itself.
    """
    if not path.is_dir():
        return [str(path)]
    if version >= (3, 11):
        return ["-P", "-m", path.name]
    return ["-c", _RUN_PACKAGE, path.name]


def pythonpath_for(path: Path) -> str:
    """PYTHONPATH that lets a swapped part import both itself and the reference code."""
    return os.pathsep.join(dict.fromkeys([str(path.parent), str(REPO)]))


def spawn(configured: dict, name: str, args: Sequence[str], *, label: str, log_path: str,
          env: Mapping[str, str] | None = None, stdout: int | None = None,
          launch: Sequence[str] = ()) -> subprocess.Popen:
    """Start the configured implementation of part `name` as a supervised, traced child.

    The child runs under process label `label` in the trace; `env` adds to
    this process's environment; `launch` is an argv prefix that runs it
    elsewhere (`ip netns exec NS`, a remote shell: wordcount/placement.py).
    """
    impl = resolve(configured, name)
    full_env = {**os.environ, **(env or {}), "PYTHONPATH": pythonpath_for(impl), **trace.child_env(label)}
    proc = procs.spawn([*launch, sys.executable, *python_target(impl), *args], log_path=log_path, env=full_env,
                       stdout=stdout)
    trace.event(trace.SPAWN, target=label, target_pid=proc.pid)
    return proc


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

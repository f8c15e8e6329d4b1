"""Swappable parts: which implementation of each role a run uses.

An instructor grades a student's version of one part against our reference
for the rest by naming it in config.json ("parts": {"worker": "path"}) or with
`--part worker=path`. Each part's contract is in docs/parts.md.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Mapping, Sequence

from wordcount import procs, trace
from wordcount.errors import UserError

REPO = Path(__file__).resolve().parent.parent

# part name -> reference implementation (a file, or a package directory)
REFERENCE: dict[str, Path] = {
    "worker": REPO / "worker.py",
    "lua": REPO / "lua" / "wordcount.lua",
    "tokenizer": REPO / "wordcount" / "tokenize.py",
    "mapper": REPO / "mapper",
    "reducer": REPO / "reducer",
    "coordinator": REPO / "coordinator",
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


def python_target(path: Path) -> list[str]:
    """argv (after the interpreter) that runs a part given as a file or a package dir.

    A package directory runs as `-m <dirname>` with its parent on sys.path
    (see `pythonpath_for`).
    """
    if path.is_dir():
        return ["-m", path.name]
    return [str(path)]


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

"""Warm starts: a part's interpreter, started before the job is ready to run it.

Every part (Lab 1 worker, Lab 2 coordinator, mapper, reducer) is started as

    python -P -m wordcount.warm [--preload MOD,...] PART_FILE ARGS...
    python -P -m wordcount.warm [--preload MOD,...] -m PART_PACKAGE ARGS...

This process sets up `sys.path` exactly as `python PART_FILE` (or `python -P
-m PART_PACKAGE`) would, imports the modules the part is known to need (the
`--preload` list: redis-py alone takes 0.1-0.2 s), then waits for one line on
its stdin: the go, a JSON object `{"args": [...]}` with the arguments that
were not known when it was started (a mapper's reducer ports). Then it runs
the part as `__main__` with `sys.argv` = [PART, *ARGS, *args] and its stdin
on /dev/null, like a process started only then -- unless the go says
`"stdin": "keep"`: then the part reads on from the same pipe (the
coordinator: the launcher's "streams ready" line, wordcount/stream/launch.py). Its environment is the one it
was started with: a parent plans what its children need (the Redis URL of a
server that is still starting, wordcount/jobuser.py) before it starts them,
so secrets sit where the owner, and only the owner, can read them
(/proc/PID/environ), exactly as for a part started directly.

Why: Python's start-up and those imports are most of what a short job
waits for, and each job starts its processes in a chain (client -> workers;
client -> coordinator -> reducers, then mappers once the reducers' ports are
known). Started warm, a process does its start-up while its parent is still
setting up (starting Redis, enqueueing), and the go costs a pipe write. A
parent that has everything at once sends the go right away
(`wordcount.parts.spawn`). EOF instead of a go (the parent gave up on it,
or died) ends the process quietly with status 0, before any part code ran.

The go comes from the parent over a private pipe; it is JSON, never pickle.
"""
from __future__ import annotations

import importlib
import json
import os
import runpy
import sys
from typing import NoReturn, Sequence

USAGE = "usage: python -P -m wordcount.warm [--preload MOD,...] (PART_FILE | -m PACKAGE) ARGS..."


def parse(argv: Sequence[str]) -> tuple[list[str], str | None, str | None, list[str]]:
    """(preload modules, part file or None, part package or None, part arguments)."""
    argv = list(argv)
    preload: list[str] = []
    if argv[:1] == ["--preload"] and len(argv) >= 2:
        preload = [name for name in argv[1].split(",") if name]
        argv = argv[2:]
    if argv[:1] == ["-m"] and len(argv) >= 2:
        return preload, None, argv[1], argv[2:]
    if not argv:
        raise SystemExit(USAGE)
    return preload, argv[0], None, argv[1:]


def preload_modules(names: Sequence[str]) -> None:
    """Import what the part will import anyway; a module that fails here is left
    for the part itself to fail on (with its own error, at its own time)."""
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - reported by the part, not here
            pass


def wait_for_go() -> tuple[list[str], bool]:
    """The late arguments, from the go line of the parent, and whether the part
    keeps its stdin (`"stdin": "keep"`: the parent has more to say on it, as
    the streaming launcher tells its coordinator when the input streams are
    filled); EOF means the go will never come."""
    line = sys.stdin.buffer.readline()
    if not line.strip():
        os._exit(0)  # cancelled before any part code ran: nothing to flush or tear down
    go = json.loads(line)
    args = go.get("args", [])
    if not (isinstance(args, list) and all(isinstance(a, str) for a in args)):
        raise SystemExit("wordcount.warm: malformed go line")
    return args, go.get("stdin") == "keep"


def stdin_to_devnull() -> None:
    """The part gets what a freshly started one would: an empty stdin."""
    fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(fd, 0)
    os.close(fd)


def run_part(path: str | None, package: str | None, args: list[str]) -> None:
    if package is not None:
        sys.argv = [package, *args]
        runpy.run_module(package, run_name="__main__", alter_sys=True)
        return
    assert path is not None
    if not os.path.isfile(path):  # what `python PATH` says and does
        print(f"{sys.executable}: can't open file {path!r}: [Errno 2] No such file or directory",
              file=sys.stderr)
        sys.exit(2)
    sys.argv = [path, *args]
    runpy.run_path(path, run_name="__main__")


def main(argv: Sequence[str]) -> NoReturn | None:
    preload, path, package, args = parse(argv)
    if path is not None:
        # `python PATH` puts the script's directory first on sys.path; `-P -m` put nothing there
        sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    preload_modules(preload)
    late_args, keep_stdin = wait_for_go()
    if not keep_stdin:
        stdin_to_devnull()
    run_part(path, package, [*args, *late_args])
    return None


if __name__ == "__main__":
    main(sys.argv[1:])

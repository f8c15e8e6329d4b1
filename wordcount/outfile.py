"""The output table's path, checked and claimed before a job starts.

Two rules, both checked before any Redis or worker is started:

* the output must be writable: we create a file in its directory (the same
  thing the atomic write does at the end), because os.access can say yes
  where creating fails (/proc, read-only mounts, root on NFS);
* one job per output file: a second job writing the same file (two runs in
  one directory both default to wordcount.tsv) is refused with the first
  one's pid, instead of the last writer silently winning. The claim is the
  lock file `.<name>.lock` next to the output, held until the process exits.
"""
from __future__ import annotations

import os
import stat
import time

from wordcount import locks
from wordcount.errors import UserError

_held: list[locks.Lock] = []


def lock_path(path: str) -> str:
    directory, name = os.path.split(os.path.abspath(path))
    return os.path.join(directory, f".{name}.lock")


def claim(path: str) -> None:
    """Refuse an unusable or already-claimed output now; hold it for this process's job."""
    directory = os.path.dirname(os.path.abspath(path))
    _check_target(path)
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create output directory {directory!r}: {exc.strerror}") from None
    try:
        _held.append(locks.acquire(lock_path(path), f"started {time.strftime('%H:%M:%S')}", remove=True))
    except locks.Busy as busy:
        raise UserError(f"output {path!r} is being written by another job ({busy}); wait for it "
                        "to finish or pass --output OTHER_FILE") from None
    except OSError as exc:
        raise UserError(f"cannot write output {path!r}: cannot create files in {directory!r} "
                        f"({exc.strerror}); pass another --output") from None


def _check_target(path: str) -> None:
    """The output may be missing or a regular file; never a directory, FIFO or device (the final
    rename would replace the node itself, e.g. /dev/null)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise UserError(f"cannot use output {path!r}: {exc.strerror}") from None
    if stat.S_ISDIR(mode):
        raise UserError(f"output {path!r} is a directory; pass --output FILE")
    if not stat.S_ISREG(mode):
        raise UserError(f"output {path!r} is not a regular file; pass --output FILE")


def release_all() -> None:
    """Give up every claim (the lock files go away); called when the command ends."""
    while _held:
        _held.pop().release()

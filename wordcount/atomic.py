"""Writing a file so that a crash leaves the old version or the new one, never half.

Used for the output table and for Lab 2 checkpoint files: write a temporary
file in the same directory, fsync it, rename it over the target, and fsync
the directory so the rename itself survives a power cut.

The temporary file is created 0600 (mkstemp); pass `mode` (e.g.
`usual_mode(path)`) for a file the user reads like any other.
"""
from __future__ import annotations

import os
import stat
import tempfile


def atomic_write(path: str, data: bytes, mode: int | None = None) -> None:
    """Replace `path` with `data` atomically and durably; creates the directory."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            if mode is not None:
                os.fchmod(fh.fileno(), mode)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


_user_umask: int | None = None  # the umask the user ran us with, before a run tightened ours


def remember_user_umask(mask: int) -> None:
    """Called once by whoever tightens the process umask (wordcount/private.py)."""
    global _user_umask
    if _user_umask is None:
        _user_umask = mask


def usual_mode(path: str) -> int:
    """The mode a plain `open(path, "w")` in the user's shell would give: the existing
    file's, else 0666 minus the user's umask (not the run's owner-only one)."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~(current_umask() if _user_umask is None else _user_umask)


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (no other thread creates files meanwhile)
    os.umask(mask)
    return mask


def _fsync_dir(directory: str) -> None:
    """Make the rename itself durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""Advisory file locks that say which process holds them.

A lock is an flock(2) on a small file holding the owner's pid and job id.
The kernel drops it when the owner exits, however it exits (SIGKILL too), so
a lock is never stale: a leftover file that nobody has locked means "free".
"""
from __future__ import annotations

import errno
import fcntl
import os
from dataclasses import dataclass


@dataclass
class Lock:
    """A held lock; `release()` (or the owner's exit) frees it."""

    path: str
    fd: int
    remove: bool  # delete the file on release (locks that sit next to a user's files)

    def release(self) -> None:
        if self.fd < 0:
            return
        if self.remove:
            try:
                os.unlink(self.path)  # before unlocking: nobody else can hold this inode yet
            except OSError:
                pass
        os.close(self.fd)
        self.fd = -1


class Busy(Exception):
    """Another live process holds the lock; str() says who."""


def acquire(path: str, owner: str, remove: bool = False) -> Lock:
    """Take the lock at `path` now or raise Busy naming the holder; OSError if it cannot be created.

    The file may be unlinked by its releasing holder between our open and our
    flock; then we locked a dead inode, so try again on the new file.
    """
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read(fd)
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise Busy(holder or "another process") from None
            raise
        if _same_file(fd, path):
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()}, {owner}".encode())
            return Lock(path, fd, remove)
        os.close(fd)


def is_held(path: str) -> bool:
    """True if a live process holds the lock at `path` (a missing file is free)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def _same_file(fd: int, path: str) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def _read(fd: int) -> str:
    try:
        return os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        return ""

"""Which processes belong to a test: tags, registered directories, and what is left over.

Every test gets a unique tag (conftest.py sets WC_TEST_TAG=<tag>, which all
the processes it starts inherit). A process is the test's if it carries the
tag, runs with its cwd under a directory registered for the test (Redis,
which overwrites its environment block), or descends from one of those. After
the test, anything of its still alive is killed and the test fails, naming it.
"""
from __future__ import annotations

import os
import re
import signal
import time
import uuid
from pathlib import Path
from typing import Iterable

import psutil
import pytest

TAG_ENV = "WC_TEST_TAG"


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

"""Network faults injected in-process, at the socket layer (no root needed).

`NetFaults.for_process(spec, me, incarnation)` gives one process its faults;
it wraps the sockets the job creates:

* `udp(sock)`: a socket whose `recvfrom` judges every datagram once (see
  wordcount/faults/netspec.py): dropped, duplicated, delayed or held back so
  later ones overtake it. Held datagrams wait in a heap that the receiving
  thread itself drains -- no timer thread, so the one-reader rule of
  message.receive_udp still holds. While this process is partitioned, its
  `sendto` and `recvfrom` drop everything.
* `hold(stopping)`: TCP calls (mapper connect/send, reducer reads) stall while
  the process is partitioned, so their bytes arrive late, after the heal.

The kind and sender of a datagram are peeked from its JSON body with a regex,
which does not care what follows the body (e.g. a MAC).
"""
from __future__ import annotations

import heapq
import io
import itertools
import logging
import random
import re
import socket
import threading
import time
from typing import Any

from wordcount.faults.netspec import NetSpec

log = logging.getLogger("net")
REORDER_HOLD_S = 0.15  # a reordered datagram is held this long, so the ones after it overtake it
DUP_GAP_S = 0.02  # the copy of a duplicated datagram arrives up to this much later
_PEEK = re.compile(rb'"(type|sender)":"([^"\\]{1,64})"')


def peek(data: bytes) -> tuple[str, str]:
    """(kind, sender) of a frame, or ("", "") if they cannot be seen."""
    found = dict(_PEEK.findall(data[:1000]))
    return found.get(b"type", b"").decode(), found.get(b"sender", b"").decode()


class NetFaults:
    """The network faults of one process (one incarnation of one worker, or the coordinator)."""

    def __init__(self, spec: NetSpec, me: str, incarnation: int = 0) -> None:
        self.spec = spec
        self.me = me
        self.incarnation = incarnation
        self.started = time.monotonic()
        self.rng = random.Random(f"{spec.seed}:{me}:{incarnation}")
        self.lock = threading.Lock()
        self.counts = {"dropped": 0, "duplicated": 0, "delayed": 0, "cut": 0}

    @classmethod
    def for_process(cls, spec: NetSpec, me: str, incarnation: int = 0) -> "NetFaults | None":
        return cls(spec, me, incarnation) if spec.active else None

    def uptime(self) -> float:
        return time.monotonic() - self.started

    def cut_until(self) -> float | None:
        """Our uptime at which our partition heals, if we are cut off now.

        Only first incarnations are cut: a replacement runs "elsewhere"."""
        p = self.spec.partitioned(self.me, self.uptime()) if self.incarnation == 0 else None
        return None if p is None else p.end_s

    def hold(self, stopping: threading.Event | None = None) -> None:
        """Stall a TCP operation while we are partitioned; raise OSError if told to stop meanwhile."""
        end = self.cut_until()
        if end is None:
            return
        log.warning("partitioned: TCP stalls for %.2fs", end - self.uptime())
        while (left := end - self.uptime()) > 0:
            if stopping is not None and stopping.wait(min(left, 0.2)):
                raise OSError("stopped while partitioned")
            if stopping is None:
                time.sleep(min(left, 0.2))

    def judge(self, data: bytes) -> list[float]:
        """Delays (seconds) of the copies of one received datagram to deliver: [] = lost."""
        kind, sender = peek(data)
        with self.lock:
            rules = [r for g in self.spec.groups for r in g.rules_for(self.me, sender, kind)]
            delay = 0.0
            for r in rules:
                if r.fault == "loss" and self.rng.random() < r.value:
                    self.counts["dropped"] += 1
                    return []
                if r.fault == "delay" and r.value:
                    delay += self.rng.uniform(0, r.value)
                if r.fault == "reorder" and self.rng.random() < r.value:
                    delay += REORDER_HOLD_S
            copies = [delay]
            if any(r.fault == "dup" and self.rng.random() < r.value for r in rules):
                copies.append(delay + self.rng.uniform(0, DUP_GAP_S))
                self.counts["duplicated"] += 1
            self.counts["delayed"] += delay > 0
        return copies

    def udp(self, sock: socket.socket) -> "FaultyUDP":
        return FaultyUDP(sock, self)

    def reader(self, conn: socket.socket, stopping: threading.Event) -> io.BufferedReader:
        """A buffered reader of a TCP connection whose reads stall while we are partitioned."""
        return io.BufferedReader(_HeldReader(conn, self, stopping))

    def summary(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in self.counts.items())


class FaultyUDP:
    """A UDP socket with injected faults; everything else is the real socket's."""

    def __init__(self, sock: socket.socket, faults: NetFaults) -> None:
        self._sock = sock
        self._faults = faults
        self._timeout = sock.gettimeout()
        self._held: list[tuple[float, int, bytes, Any]] = []
        self._seq = itertools.count()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def settimeout(self, timeout: float | None) -> None:
        self._timeout = timeout
        self._sock.settimeout(timeout)

    def sendto(self, data: bytes, addr: Any) -> int:
        if self._faults.cut_until() is not None:
            self._faults.counts["cut"] += 1
            return len(data)  # into the void: the partition drops it
        return self._sock.sendto(data, addr)

    def recvfrom(self, bufsize: int) -> tuple[bytes, Any]:
        """The next datagram that is due, honouring the socket timeout."""
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        while True:
            now = time.monotonic()
            if self._held and self._held[0][0] <= now:
                _, _, data, addr = heapq.heappop(self._held)
                return data, addr
            waits = [t - now for t in (deadline, self._held[0][0] if self._held else None) if t is not None]
            if deadline is not None and deadline <= now:
                raise socket.timeout("timed out")
            self._sock.settimeout(max(0.001, min(waits)) if waits else None)
            try:
                data, addr = self._sock.recvfrom(bufsize)
            except socket.timeout:
                continue
            if self._faults.cut_until() is not None:
                self._faults.counts["cut"] += 1
                continue
            for delay in self._faults.judge(data):
                heapq.heappush(self._held, (time.monotonic() + delay, next(self._seq), data, addr))


class _HeldReader(io.RawIOBase):
    """Raw reads from a TCP socket that wait out our partitions first."""

    def __init__(self, conn: socket.socket, faults: NetFaults, stopping: threading.Event) -> None:
        self._conn = conn
        self._faults = faults
        self._stopping = stopping

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._faults.hold(self._stopping)
        n = self._conn.recv_into(buffer)
        self._faults.hold(self._stopping)  # what arrived during the cut is read after it
        return n

"""Who a Lab 2 receiver accepts frames from, and counting what it drops.

An authenticated frame (wordcount/stream/auth.py) is admitted only if its
sender is one this receiver expects, at the incarnation it expects (the
coordinator: the one its supervisor started last; a worker: the coordinator,
incarnation 0), and its sequence number is new for that (sender,
incarnation). UDP may reorder, so freshness is a sliding window like IPsec's
(RFC 4303, 3.4.3): the highest number seen plus a bitmap of the WINDOW before
it; a number seen before, or older than the window, is a replay.

Every dropped frame is counted by reason (REASONS) and logged, rate-limited
so a flood cannot fill the disk: `Rejections`.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import Any, Callable

import message as m
from wordcount.stream.auth import Envelope, Rejected

WINDOW = 1024
REASONS = {
    "oversized": "longer than the limit (UDP datagram, or a TCP frame before/after its hello)",
    "malformed": "bad framing, JSON, envelope or message fields",
    "version": "not version 2 (e.g. the old unauthenticated v1 format)",
    "bad_mac": "HMAC tag does not match: a wrong key, a forgery, or altered bytes",
    "misdirected": "addressed to another process or incarnation",
    "unknown_sender": "a sender this receiver never accepts (or another than the connection's)",
    "stale_incarnation": "from an incarnation older than the one started last (a late frame of a replaced process)",
    "future_incarnation": "from an incarnation newer than any started",
    "replay": "a sequence number already seen, or too old for the window",
    "unauthenticated_tcp": "a TCP connection that did not open with a valid hello",
    "unexpected": "authentic, but a message this receiver never takes",
}
LOG_FIRST = 5  # per reason, logged one by one; then at most one summary line per LOG_EVERY_S
LOG_EVERY_S = 10.0


class ReplayWindow:
    """Sequence numbers of one (sender, incarnation): accept each at most once."""

    def __init__(self, size: int = WINDOW) -> None:
        self.size = size
        self.top = 0  # highest accepted
        self.bits = 0  # bit i set: top - i was accepted

    def check(self, seq: int) -> str | None:
        """Mark `seq` as seen and return None, or say why it is refused."""
        if seq < 1:
            return f"sequence {seq} is not positive"
        if seq > self.top:
            self.bits = ((self.bits << (seq - self.top)) | 1) & ((1 << self.size) - 1)
            self.top = seq
            return None
        offset = self.top - seq
        if offset >= self.size:
            return f"sequence {seq} is older than the window (newest {self.top})"
        if self.bits >> offset & 1:
            return f"sequence {seq} was already received"
        self.bits |= 1 << offset
        return None


class Admission:
    """The incarnation and replay rules of one receiver (one thread uses it).

    `current(sender)` is the incarnation accepted from `sender`, or None for a
    sender never accepted.
    """

    def __init__(self, current: Callable[[str], int | None]) -> None:
        self.current = current
        self.windows: dict[str, tuple[int, ReplayWindow]] = {}  # sender -> (incarnation, window)

    def admit(self, env: Envelope) -> Envelope:
        sender = env.msg.sender
        expected = self.current(sender)
        if expected is None:
            raise Rejected("unknown_sender", f"{sender!r} is not a sender this process accepts")
        if env.src_inc != expected:
            reason = "stale_incarnation" if env.src_inc < expected else "future_incarnation"
            raise Rejected(reason, f"{sender} incarnation {env.src_inc}; the current one is {expected}")
        own = getattr(env.msg, "incarnation", env.src_inc)
        if own != env.src_inc:
            raise Rejected("malformed", f"{env.msg.TYPE} says incarnation {own}, its envelope {env.src_inc}")
        inc, window = self.windows.get(sender, (-1, None))
        if window is None or inc != env.src_inc:  # a new incarnation starts a new sequence
            window = ReplayWindow()
            self.windows[sender] = (env.src_inc, window)
        problem = window.check(env.seq)
        if problem:
            raise Rejected("replay", f"{sender}.{env.src_inc}: {problem}")
        return env


def coordinator_only(sender: str) -> int | None:
    """A worker's rule: only the coordinator (never restarted: incarnation 0) sends to it."""
    return 0 if sender == m.COORDINATOR else None


class Rejections:
    """Counts of dropped frames by reason, with rate-limited warnings. Thread-safe."""

    def __init__(self, logger: logging.Logger) -> None:
        self.log = logger
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._last_log: dict[str, tuple[float, int]] = {}  # reason -> (when, count then)

    def add(self, exc: Rejected, peer: Any) -> None:
        with self._lock:
            self._counts[exc.reason] += 1
            n = self._counts[exc.reason]
            now = time.monotonic()
            when, logged_at = self._last_log.get(exc.reason, (0.0, 0))
            if n > LOG_FIRST and now - when < LOG_EVERY_S:
                return
            self._last_log[exc.reason] = (now, n)
        if n <= LOG_FIRST:
            self.log.warning("rejected a frame from %s: %s", peer, exc)
        else:
            self.log.warning("rejected %d more frames (%s) in the last %.0fs; latest from %s: %s",
                             n - logged_at, exc.reason, now - when, peer, exc.detail)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


def total(*counts: dict[str, int]) -> dict[str, int]:
    """Several reason -> count maps added up (zeros left out)."""
    out: Counter[str] = Counter()
    for c in counts:
        out.update(c)
    return {k: v for k, v in sorted(out.items()) if v}


def rejected_record(own: dict[str, int], reported: dict[tuple[str, int], dict[str, int]]) -> dict:
    """The coordinator's "rejected" (reason -> count) and "rejected_by" (process -> that) for the
    run record, from its own counts and what each (worker, incarnation) last reported."""
    by: dict[str, dict[str, int]] = {m.COORDINATOR: own}
    for (wid, _), counts in reported.items():
        by[wid] = total(by.get(wid, {}), counts)
    by = {proc: counts for proc, counts in by.items() if counts}
    return {"rejected": total(*by.values()), "rejected_by": by}


def summary(rejected: dict[str, int]) -> str:
    """'rejected 123 frames: bad_mac 120, replay 3' (largest first)."""
    parts = ", ".join(f"{reason} {n}" for reason, n in sorted(rejected.items(), key=lambda kv: (-kv[1], kv[0])))
    return f"rejected {sum(rejected.values())} frames: {parts}"

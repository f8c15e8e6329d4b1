"""A mapper of the streaming job: counts the byte ranges of files named in its
Redis stream (chunk by chunk, wordcount/splits.py, so memory stays bounded
and the heartbeat thread gets the GIL between chunks) and sends each reducer
its share of the counts over a persistent TCP connection. Consecutive small
entries are counted together (GROUP_BYTES) and their counts sent once.

Threads: the heartbeat thread and the coordinator listener (see
wordcount/stream/worker.py) only queue commands; the main thread is the
command handler: it executes queued commands first (checkpoint, recovery,
exit) and, when there are none, processes the next stream entry (or group).

State (checkpointed on a marker, before the marker is forwarded):
  cursor    id of the last stream entry fully sent (XRANGE resumes after it)
  position  number of entries processed, for progress
  warnings  what the summary says about files (not UTF-8, odd CSV rows)
"""
from __future__ import annotations

import argparse
import logging
import operator
import os
import socket
import threading
import time
import zlib
from collections import Counter, deque
from itertools import compress, islice, repeat
from operator import methodcaller
from typing import Iterator, Sequence

import redis

import message as m
from wordcount import trace
from wordcount.faults.network import NetFaults
from wordcount.ids import reducer
from wordcount.keys import JobKeys
from wordcount.stream import auth
from wordcount.stream.worker import (
    StreamWorker,
    common_arguments,
    parse_address,
    run_worker,
)
from wordcount.splits import FILE_CHANGED_EXIT, FileChanged, Range, count_range

log = logging.getLogger("mapper")
START = "0-0"  # cursor before the first entry
FETCH = 64  # stream entries fetched per XRANGE
# Entries sent together at most (in bytes of input; at least one entry): small files' counts are
# summed first, so the words they share are partitioned, encoded, sent and added once, not per file.
GROUP_BYTES = 1 << 20
IDLE_WAIT_S = 0.5  # how long to block for a command when there is no work
# Words per word-count message. Encoding (here) and decoding (in the reducer)
# one message is a single C call that holds the GIL; small pieces keep each
# call to milliseconds, so heartbeats flow on both sides. All pieces of a
# range precede the next checkpoint marker on the channel, so the cut stays
# consistent.
MESSAGE_WORDS = 8192


def partition(word: str, reducers: int) -> int:
    """The reducer that owns `word`: the same in every process and run (unlike hash())."""
    return zlib.crc32(word.encode("utf-8", "surrogatepass")) % reducers


_UTF8 = methodcaller("encode", "utf-8", "surrogatepass")


def split_by_owner(counts: dict[str, int], reducers: int) -> list[dict[str, int]]:
    """`counts` cut into one dict per reducer by `partition`, in bulk: the owners
    come from maps over C functions and each reducer's share from
    itertools.compress, with no Python-level step per word."""
    if reducers == 1:
        return [dict(counts)]
    try:
        encoded = list(map(str.encode, counts))  # UTF-8; the same bytes as `partition`'s for every word...
    except UnicodeEncodeError:  # ...but one with a lone surrogate, which only surrogatepass encodes
        encoded = list(map(_UTF8, counts))
    owners = list(map(operator.mod, map(zlib.crc32, encoded), repeat(reducers)))
    return [dict(compress(counts.items(), map(k.__eq__, owners))) for k in range(reducers)]


def pieces(counts: dict[str, int], size: int) -> Iterator[dict[str, int]]:
    """`counts` in dicts of at most `size` words (none if it is empty)."""
    if len(counts) <= size:
        if counts:
            yield counts
        return
    items = iter(counts.items())
    for _ in range(0, len(counts), size):
        yield dict(islice(items, size))


class Outputs:
    """One persistent, authenticated TCP connection per reducer.

    On connect the reducer sends a challenge (a nonce and its incarnation);
    our first frame is a `hello` tagged under the key derived from that
    nonce, and every frame after it too, numbered 1, 2, ... (see
    wordcount/stream/auth.py). A failed connect, handshake or send means that
    reducer died (a live reducer listens until it is told to exit), so a
    recovery that rolls this mapper back is bound to follow; until then the
    channel is marked broken and the mapper pauses instead of reading on.
    While this mapper is partitioned (injected network faults), connects and
    sends stall until it heals, so what it sent arrives late -- the zombie
    case: the reducers refuse a superseded incarnation's frames.
    """

    def __init__(self, addresses: list[tuple[str, int]], key: auth.Key, wid: str, incarnation: int,
                 net: NetFaults | None = None, stopping: threading.Event | None = None) -> None:
        self.addresses = addresses
        self.key, self.id, self.incarnation = key, wid, incarnation
        self.socks: list[tuple[socket.socket, auth.Sealer, int] | None] = [None] * len(addresses)
        self.broken = False
        self.net = net
        self.stopping = stopping

    def send(self, idx: int, msg: m.Message) -> None:
        if self.broken:
            return
        try:
            if self.net is not None:
                self.net.hold(self.stopping)
            sock, sealer, reducer_inc = self.socks[idx] or self._connect(idx)
            sock.sendall(sealer.seal(msg, str(reducer(idx)), reducer_inc))
        except (OSError, m.DecodeError, m.StreamClosed) as exc:
            log.warning("channel to %s failed (%s); pausing until recovery", reducer(idx), exc)
            self.broken = True

    def _connect(self, idx: int) -> tuple[socket.socket, auth.Sealer, int]:
        sock = socket.create_connection(self.addresses[idx], timeout=5.0)
        try:
            with sock.makefile("rb") as stream:
                nonce, reducer_inc = auth.read_challenge(stream)
            sealer = auth.Sealer(self.key.for_connection(nonce), self.incarnation)
            sock.sendall(sealer.seal(m.Hello(self.id, self.incarnation, os.getpid(), 0), str(reducer(idx)),
                                     reducer_inc))
        except BaseException:
            sock.close()
            raise
        sock.settimeout(None)  # sends block: alignment back-pressure is expected
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.socks[idx] = (sock, sealer, reducer_inc)
        return self.socks[idx]  # type: ignore[return-value]

    def reset(self) -> None:
        """Close every connection (a recovery starts on fresh ones)."""
        for conn in self.socks:
            if conn is not None:
                conn[0].close()
        self.socks = [None] * len(self.addresses)
        self.broken = False


class Mapper(StreamWorker):
    def __init__(self, args: argparse.Namespace, settings=None) -> None:
        super().__init__(args, settings)
        self.stream = JobKeys(args.job).mapper_stream(self.index)
        self.redis = redis.Redis.from_url(os.environ["WC_REDIS_URL"], decode_responses=True,
                                          socket_timeout=30, socket_connect_timeout=5)
        self.outputs = Outputs([parse_address(a) for a in args.reducers.split(",")], self.key, self.id,
                               self.incarnation, self.net, self.stopping)
        self.reducers = len(self.outputs.addresses)
        self.spec = self.settings.tokenizer_spec()
        self.throttle_s: float = args.throttle
        self.cursor = START
        self.position = 0
        self.warnings: set[str] = set()
        self.buffer: deque[tuple[str, dict]] = deque()
        self.done = False
        self.report_progress = False  # after a recovery: tell the coordinator at once when work resumes
        self.next_file_at = 0.0

    # -- main loop ---------------------------------------------------------------------
    def run(self) -> int:
        self.start_link()
        log.info("started (pid %d), stream %s", os.getpid(), self.stream)
        while not self.stopping.is_set():
            idle = self.done or self.outputs.broken or self.recovery_id < 0
            wait = IDLE_WAIT_S if idle else max(0.0, self.next_file_at - time.monotonic())
            cmd = self.next_command(wait)
            if cmd is not None:
                self.handle_control(cmd)
            elif not idle and time.monotonic() >= self.next_file_at:
                try:
                    self.process_next()
                except FileChanged as exc:
                    log.error("%s", exc)
                    return FILE_CHANGED_EXIT
        self.outputs.reset()
        return 0

    def process_next(self) -> None:
        """Count and send the next entries, or report that the stream is exhausted.

        Small entries go together (`take`): their counts are summed before they
        are split by reducer and sent, so a word common to them travels once.
        The cursor moves past the whole group only once all of it was sent, so
        a checkpoint (taken between groups) still cuts the stream at an entry.
        """
        if not self.buffer:
            if not self.redis_reachable():
                return
            self.buffer.extend(self.redis.xrange(self.stream, f"({self.cursor}", "+", count=FETCH))
        if not self.buffer:
            self.done = True
            self.publish()
            self.send(m.Done(self.id, self.recovery_id, self.position))
            log.info("stream exhausted after %d entries", self.position)
            return
        group = self.take()
        last = group[-1][0]
        self.send_counts(last, [rng for _, rng in group])
        if self.outputs.broken:
            return  # not delivered: the coming recovery rewinds us anyway
        self.cursor, self.position = last, self.position + len(group)
        self.publish()
        if self.report_progress:
            self.report_progress = False
            self.heartbeat()
        self.next_file_at = time.monotonic() + self.throttle_s
        for _ in group:
            self.crash.at("after_first_file")

    def take(self) -> list[tuple[str, Range]]:
        """(entry id, range) of the next entry, and after it as many buffered ones as
        fit in GROUP_BYTES in all; one at a time when throttled (--throttle paces
        single files)."""
        group: list[tuple[str, Range]] = []
        size = 0
        while self.buffer:
            entry_id, fields = self.buffer[0]
            rng = Range.from_fields(fields)
            if group and (self.throttle_s or size + rng.size > GROUP_BYTES):
                break
            self.buffer.popleft()
            group.append((entry_id, rng))
            size += rng.size
        return group

    def redis_reachable(self) -> bool:
        """Wait out an injected partition: it cuts the Redis connection too. False if told to stop meanwhile."""
        try:
            if self.net is not None:
                self.net.hold(self.stopping)
        except OSError:
            return False
        return True

    def send_counts(self, entry_id: str, ranges: list[Range]) -> None:
        """The summed counts of `ranges` (the last of which is stream entry
        `entry_id`), one word-count message per reducer that owns any word."""
        counts: Counter[str] = Counter()
        for rng in ranges:
            result = count_range(rng, self.spec, self.settings.chunk_bytes, into=counts)
            self.warnings.update(result.warnings(rng.path))
        parts = split_by_owner(counts, self.reducers)
        for k, owned in enumerate(parts):
            for piece in pieces(owned, MESSAGE_WORDS):
                self.outputs.send(k, m.WordCounts(self.id, self.recovery_id, entry_id, piece))

    # -- commands --------------------------------------------------------------------------
    def on_checkpoint(self, msg: m.Checkpoint) -> None:
        """Persist the cursor, forward the marker on every channel, then ack."""
        if not self.is_current(msg.recovery_id) or msg.checkpoint_id < self.last_cp_id:
            return
        if self.reack_if_taken(msg):
            return
        # BEGIN SOLUTION: persist the cursor (save_checkpoint), forward the marker to every reducer, then ack
        if msg.final:
            self.crash.at("on_final")
        state = {"cursor": self.cursor, "position": self.position, "warnings": sorted(self.warnings)}
        self.save_checkpoint(msg.checkpoint_id, msg.final, msg.completed_id, state)
        self.crash.at("before_forward")
        marker = m.ForwardedCheckpoint(self.id, msg.checkpoint_id, msg.recovery_id, msg.final, msg.completed_id)
        for k in range(self.reducers):
            self.outputs.send(k, marker)
        trace.event(trace.MARKER_FORWARDED, cp=msg.checkpoint_id)
        self.crash.at("after_forward")
        self.ack_checkpoint()
        log.info("checkpoint %d taken at %s (%d entries)%s", msg.checkpoint_id, self.cursor,
                 self.position, " [final]" if msg.final else "")
        # END SOLUTION

    def restore(self, checkpoint_id: int) -> None:
        state = self.load_checkpoint(checkpoint_id) or {"cursor": START, "position": 0, "warnings": []}
        self.cursor, self.position = str(state["cursor"]), int(state["position"])
        self.warnings = set(state["warnings"])
        self.buffer.clear()
        self.outputs.reset()
        self.done = False
        self.report_progress = True
        self.next_file_at = 0.0

    def progress(self) -> tuple[int, bool]:
        return self.position, self.done


def main(argv: Sequence[str] | None = None) -> int:
    parser = common_arguments("Lab 2 mapper (started by the coordinator)")
    parser.add_argument("--job", required=True, help="job id (selects the Redis stream)")
    parser.add_argument("--reducers", required=True, metavar="HOST:PORT,...", help="reducer TCP addresses")
    parser.add_argument("--throttle", type=float, default=0.0, metavar="S",
                        help="pause S seconds after each file (tests and demos)")
    return run_worker(Mapper, parser.parse_args(argv))

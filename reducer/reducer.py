"""A reducer of the streaming job: sums the word counts its mappers send and
takes aligned (Flink-style) checkpoints of them.

Threads: heartbeat and coordinator listener (wordcount/stream/worker.py), an
acceptor for mapper connections, one channel thread per connection, and the
main thread, the command handler, which alone changes the counts and the
alignment state. A channel thread that has delivered checkpoint marker n
reads on, but tags what it reads after it (`Held`, with the marker's gate, an
Event): the command handler keeps those counts aside until it has seen
marker n on every channel, snapshotted the counts and opened all gates, and
adds them then. So a mapper that reached its marker early keeps counting
and sending instead of stalling on a full TCP buffer while the other one
finishes a 16 MB range (on one 300 MB file that stall was up to 0.6 s per
checkpoint). Past HOLD_MAX tagged messages the channel thread waits on the
gate, as every channel thread did before: memory stays bounded. A recovery
opens every gate and drops what was held, so nothing is ever "broken".

Mapper connections are authenticated before anything is read from them: the
channel sends a challenge, the first frame must be a hello tagged under the
key derived from it, from a mapper at the incarnation the coordinator started
last (its `view`, in every coordinator frame), and every later frame must be
that mapper's next one (wordcount/stream/auth.py). Any failure closes the
connection and is counted by reason.

State (checkpointed when aligned): counts, word -> count. The final
checkpoint holds them in output order instead ("table": per count, the
sorted words as one UTF-8 string, wordcount/stream/finaltable.py), so the
launcher loads them cheaply and merges the reducers' parts instead of
ordering the whole table itself (wordcount/stream/job.py, `gather`).
"""
from __future__ import annotations

import argparse
import logging
import os
import queue
import secrets
import socket
import threading
from dataclasses import dataclass
from typing import Sequence

import message as m
from wordcount import trace
from wordcount.faults.points import DAMAGE_POINTS
from wordcount.ids import WorkerId, mapper
from wordcount.stream import auth, checkpoint, finaltable
from wordcount.stream.worker import POLL_S, StreamWorker, common_arguments, run_worker

log = logging.getLogger("reducer")
IDLE_WAIT_S = 0.5
HELLO_TIMEOUT_S = 5.0  # a connection that does not authenticate by then is closed
# Word-count messages (at most 8192 words each from a reference mapper) one channel may have held
# back during an alignment before its thread stops reading until the gate opens.
HOLD_MAX = 32


@dataclass
class Marker:
    """A checkpoint marker, with the gate its channel thread waits on."""

    msg: m.ForwardedCheckpoint
    gate: threading.Event


@dataclass
class Held:
    """Word counts a channel delivered after its marker: they count only once its gate is open."""

    msg: m.WordCounts
    gate: threading.Event


@dataclass
class Lane:
    """A channel thread's view of the alignment: the gate of its last marker, and what it tagged since."""

    gate: threading.Event | None = None
    held: int = 0


class Reducer(StreamWorker):
    def __init__(self, args: argparse.Namespace, settings=None) -> None:
        super().__init__(args, settings)
        self.commands = queue.Queue(maxsize=64)  # word counts can be MBs each: bound the backlog
        self.mappers: int = args.mappers
        self.listener = self._listen_tcp(args.port)
        self.counts: dict[str, int] = {}
        self.aligning: int | None = None  # checkpoint id being aligned
        self.arrived: dict[int, threading.Event] = {}  # mapper index -> the gate of its marker (its later counts are held)
        self.held: list[Held] = []  # counts sent after a marker, kept aside until its gate opens
        # The mapper incarnations to admit. Every first incarnation starts together, at 0; a
        # replacement learns them from the coordinator's first frame (until then it counts nothing).
        self.view: dict[str, int] | None = (
            {str(mapper(i)): 0 for i in range(self.mappers)} if self.incarnation == 0 else None)

    def _listen_tcp(self, port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a replacement rebinds our port
        sock.bind((self.host, port))
        sock.listen(64)
        sock.settimeout(POLL_S)
        return sock

    # -- main loop ---------------------------------------------------------------------
    def run(self) -> int:
        port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, name="acceptor", daemon=True).start()
        self.start_link(port)
        log.info("started (pid %d), listening on port %d for %d mappers", os.getpid(), port, self.mappers)
        while not self.stopping.is_set():
            cmd = self.next_command(IDLE_WAIT_S)
            if isinstance(cmd, m.WordCounts):
                self.on_word_counts(cmd)
            elif isinstance(cmd, Held):
                self.held.append(cmd)
            elif isinstance(cmd, Marker):
                self.on_marker(cmd)
            elif cmd is not None:
                self.handle_control(cmd)
            if self.held:
                self.add_released()
        self.release_all()
        self.listener.close()
        return 0

    # -- channel threads (they only read and queue) ------------------------------------------
    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, addr = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(None)
            threading.Thread(target=self._channel, args=(conn, addr), name=f"channel-{addr[1]}",
                             daemon=True).start()

    def _channel(self, conn: socket.socket, addr: tuple) -> None:
        """Authenticate one mapper connection, then read its frames until it closes.

        Any frame that fails a check closes the connection: a TCP stream cannot
        resynchronise, and a real mapper never sends one. Reads stall while this
        reducer is partitioned (injected network faults).
        """
        stream = self.net.reader(conn, self.stopping) if self.net else conn.makefile("rb")
        nonce = secrets.token_bytes(auth.NONCE_SIZE)
        channel = auth.Channel(self.key.for_connection(nonce), self.id, self.incarnation)
        limit = auth.HELLO_MAX  # nothing big is read before the hello checked out
        lane = Lane()
        try:
            conn.settimeout(HELLO_TIMEOUT_S)
            conn.sendall(auth.challenge_frame(nonce, self.incarnation))
            while not self.stopping.is_set():
                env = channel.open(self._read(stream, limit, channel))
                self._admit_mapper(env)
                if limit == auth.HELLO_MAX:
                    conn.settimeout(None)
                    limit = m.MAX_TCP_FRAME
                self._deliver(env, lane)
        except auth.Rejected as exc:
            self.rejections.add(exc, addr)
        except m.StreamClosed:
            if channel.peer is None:
                self.rejections.add(auth.Rejected("unauthenticated_tcp", "closed before a hello"), addr)
        except OSError as exc:
            if channel.peer is None:
                self.rejections.add(auth.Rejected("unauthenticated_tcp", f"no hello: {exc}"), addr)
            else:
                log.info("channel from %s failed: %s", addr, exc)
        finally:
            stream.close()
            conn.close()

    def _wait_open(self, gate: threading.Event) -> bool:
        """Wait (without spinning) until `gate` opens; False if we are stopping meanwhile."""
        while not gate.wait(POLL_S):
            if self.stopping.is_set():
                return False
        return True

    @staticmethod
    def _read(stream, limit: int, channel: auth.Channel) -> bytes:
        try:
            return m.read_frame(stream, limit)
        except m.DecodeError as exc:
            raise auth.Rejected("oversized", f"{exc} ({'after' if channel.peer else 'before'} its hello)") from None

    def _admit_mapper(self, env: auth.Envelope) -> None:
        """Only our mappers, each only at the incarnation the coordinator started last."""
        sender = env.msg.sender
        kind, _, idx = sender.rpartition("-")
        if kind != "mapper" or not idx.isdigit() or int(idx) >= self.mappers:
            raise auth.Rejected("unknown_sender", f"{sender!r} is not one of our {self.mappers} mappers")
        current = None if self.view is None else self.view.get(sender)
        if current is not None and env.src_inc != current:
            reason = "stale_incarnation" if env.src_inc < current else "future_incarnation"
            raise auth.Rejected(reason, f"{sender} incarnation {env.src_inc}; the current one is {current}")

    def on_view(self, view: dict[str, int]) -> None:
        """Incarnations only grow: a reordered older frame never moves the view back."""
        old = self.view or {}
        self.view = {w: max(inc, old.get(w, 0)) for w, inc in view.items() if WorkerId.try_parse(w) is not None and WorkerId.parse(w).is_mapper}

    def _deliver(self, env: auth.Envelope, lane: Lane) -> None:
        msg = env.msg
        if isinstance(msg, m.WordCounts):
            gate = lane.gate
            if gate is None or gate.is_set():
                self.commands.put(msg)
            elif lane.held < HOLD_MAX:
                lane.held += 1
                self.commands.put(Held(msg, gate))
            elif self._wait_open(gate):  # enough of ours is held: read nothing more until released
                self.commands.put(msg)
        elif isinstance(msg, m.ForwardedCheckpoint):
            # one alignment at a time per channel: the next marker waits for the last one's gate
            if lane.gate is None or self._wait_open(lane.gate):
                lane.gate, lane.held = threading.Event(), 0
                self.commands.put(Marker(msg, lane.gate))
        elif not isinstance(msg, m.Hello):  # the hello authenticated the connection: nothing more to do
            raise auth.Rejected("unexpected", f"{msg.TYPE} on a mapper channel")

    # -- commands ------------------------------------------------------------------------------
    def on_word_counts(self, msg: m.WordCounts) -> None:
        if not self.is_current(msg.recovery_id):
            # sent before the last recovery (its effect was rolled back), or by a zombie
            log.info("dropped word counts of entry %s from %s: recovery %d, ours is %d", msg.entry_id,
                     msg.sender, msg.recovery_id, self.recovery_id)
            return
        counts = self.counts
        for word, n in msg.counts.items():
            counts[word] = counts.get(word, 0) + n

    def on_marker(self, marker: Marker) -> None:
        """Block the channel until marker n came on all of them, then snapshot."""
        msg = marker.msg
        idx = WorkerId.parse(msg.sender).index  # checked by _from_a_mapper
        if not self.is_current(msg.recovery_id) or msg.checkpoint_id <= self.last_cp_id:
            marker.gate.set()  # stale or repeated: let the channel go on
            return
        self._damage_completed(msg)
        # BEGIN SOLUTION: keep this channel's gate closed until marker n came on every channel, then snapshot
        if self.aligning is None:
            self.aligning = msg.checkpoint_id
            self.crash.at("after_first_marker")
        if msg.checkpoint_id != self.aligning or idx in self.arrived:
            log.error("protocol error: marker %d from %s while aligning %s", msg.checkpoint_id, msg.sender,
                      self.aligning)
            marker.gate.set()
            return
        self.arrived[idx] = marker.gate
        trace.event(trace.CHANNEL_BLOCKED, cp=msg.checkpoint_id, channel=msg.sender)
        if len(self.arrived) == self.mappers:
            self.snapshot(msg)
        # END SOLUTION

    def snapshot(self, msg: m.ForwardedCheckpoint) -> None:
        # the job's table: ordered here, by every reducer at once; the launcher only merges
        table = finaltable.encode(self.counts) if msg.final else None
        state: dict = {"counts": self.counts} if table is None else {"table": table}
        self.save_checkpoint(msg.checkpoint_id, msg.final, msg.completed_id, state)
        self.crash.at("after_snapshot")
        self.ack_checkpoint()
        log.info("checkpoint %d taken: %d distinct words, %d messages held out of it%s", msg.checkpoint_id,
                 len(self.counts), len(self.held), " [final]" if msg.final else "")
        self.release_all()

    def release_all(self) -> None:
        for gate in self.arrived.values():
            gate.set()
        self.arrived = {}
        self.aligning = None

    def add_released(self) -> None:
        """Add the held counts whose gate is open by now (after the snapshot they
        were kept out of, or at once for a marker that was stale)."""
        waiting = []
        for held in self.held:
            if held.gate.is_set():
                self.on_word_counts(held.msg)
            else:
                waiting.append(held)
        self.held = waiting

    def on_checkpoint(self, msg: m.Checkpoint) -> None:
        """From the coordinator only when our ack went missing: repeat it if we can."""
        self.reack_if_taken(msg)

    def restore(self, checkpoint_id: int) -> None:
        self.held = []  # sent after a marker of the abandoned checkpoint: rolled back with it
        state = self.load_checkpoint(checkpoint_id) or {"counts": {}}
        try:  # a final snapshot holds the table instead of the counts
            counts = state["counts"] if "counts" in state else \
                finaltable.counts_of(finaltable.decode(state.get("table")))
        except ValueError as exc:
            raise checkpoint.CheckpointError(f"checkpoint {checkpoint_id} of {self.id}: {exc}") from None
        if not isinstance(counts, dict):
            raise checkpoint.CheckpointError(f"checkpoint {checkpoint_id} of {self.id} has no counts")
        self.counts = counts
        self.release_all()

    def _damage_completed(self, msg: m.ForwardedCheckpoint) -> None:
        """The crash points corrupt_completed / lose_completed: damage (or delete)
        our file of the last completed checkpoint, then act (die), so that the
        recovery must load it (tests of the 'corrupt or missing' error). They
        are reached at a marker once some checkpoint has completed."""
        if msg.completed_id <= 0:
            return
        point = next((p for p in DAMAGE_POINTS if self.crash.due(p)), None)
        if point is None:
            return
        path = checkpoint.path_for(self.checkpoint_dir, self.id, msg.completed_id)
        if point == "lose_completed":
            os.unlink(path)
        else:
            with open(path, "r+b") as fh:
                fh.seek(-2, os.SEEK_END)
                fh.write(b"!!")
        self.crash.fire()


def main(argv: Sequence[str] | None = None) -> int:
    parser = common_arguments("Lab 2 reducer (started by the coordinator)")
    parser.add_argument("--port", type=int, default=0, help="TCP port for mappers (0 = pick a free one)")
    parser.add_argument("--mappers", type=int, required=True, help="number of mappers (channels)")
    return run_worker(Reducer, parser.parse_args(argv))

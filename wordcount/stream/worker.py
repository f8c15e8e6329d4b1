"""What mapper and reducer processes of the streaming job (Lab 2) share.

Each worker process has one *command handler* thread (its main thread) that
alone changes the worker's state; every other thread only hands it commands
through `commands`, a queue. This module provides:

* the coordinator link: a UDP socket, the heartbeat thread (every
  heartbeat_interval_s) and the coordinator listener thread, which verifies
  datagrams (wordcount/stream/auth.py: the job key, addressed to this
  incarnation, from the coordinator, a fresh sequence number) and queues
  them; the rest are counted by reason (reported in heartbeats), logged and
  dropped;
* `StreamWorker`, the base class with the parts of the protocol that are the
  same for both kinds: hello (repeated with every heartbeat until the
  coordinator answers `hello_ack`: UDP may lose it), idempotent recovery (a
  duplicate recovery message is only re-acknowledged), checkpoint acks,
  checkpoint-file cleanup and exit -- when told to (`exit`), when told it was
  superseded by a newer incarnation (`superseded`: a zombie that was cut off,
  declared dead and replaced), or when the coordinator has been silent for
  `stream.lost_contact_s` (it is gone, or we are cut off);
* the worker's fault for tests (`self.crash`, wordcount/faults/process.py),
  given only to its first incarnation so a replacement never crashes again.
"""
from __future__ import annotations

import argparse
import logging
import os
import queue
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import message as m
from wordcount import trace
from wordcount.config import Settings, load_settings
from wordcount.faults import netspec
from wordcount.faults.network import NetFaults
from wordcount.faults.process import ProcessFaults
from wordcount.ids import WorkerId
from wordcount.placement import host_of
from wordcount.stream import auth, checkpoint
from wordcount.stream.admission import Admission, Rejections, coordinator_only

log = logging.getLogger("stream")
UNRECOVERED = -1  # recovery id of a replacement until the coordinator tells it where to start
POLL_S = 0.5  # how often blocked helper threads look at the stop flag
SUPERSEDED_EXIT = 76  # told that a newer incarnation replaced us
LOST_CONTACT_EXIT = 77  # nothing from the coordinator for stream.lost_contact_s
UDP_RCVBUF = 1024 * 1024  # room for a burst of forged datagrams without losing the coordinator's


@dataclass
class Status:
    """What heartbeats report; replaced (never mutated) by the command handler."""

    recovery_id: int
    position: int = 0
    done: bool = False


def parse_address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def common_arguments(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--id", required=True, help="worker id, e.g. mapper-0 or reducer-1")
    parser.add_argument("--incarnation", type=int, default=0, help="how many times this id was restarted")
    parser.add_argument("--settings", required=True, help="effective settings JSON written by the launcher")
    parser.add_argument("--coordinator", required=True, metavar="HOST:PORT", help="coordinator UDP address")
    parser.add_argument("--checkpoint-dir", required=True)
    parser.add_argument("--crash", metavar="POINT[@K][=ACTION]",
                        help="test fault, wordcount/faults/spec.py (first incarnation only)")
    return parser


def setup_logging(args: argparse.Namespace, settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level.upper(),
                        format=f"%(asctime)s {args.id}.{args.incarnation} %(levelname)s: %(message)s")


class StreamWorker:
    """Base of Mapper and Reducer: the coordinator link and the shared protocol."""

    def __init__(self, args: argparse.Namespace, settings: Settings | None = None) -> None:
        self.settings = settings or load_settings(args.settings)
        worker = WorkerId.parse(args.id)
        self.id: str = args.id
        self.index = worker.index
        self.incarnation: int = args.incarnation
        self.checkpoint_dir: str = args.checkpoint_dir
        self.crash = ProcessFaults.for_stream(worker, args.crash)
        self.commands: queue.Queue = queue.Queue(maxsize=256)
        self.stopping = threading.Event()
        self.coordinator = parse_address(args.coordinator)
        self.key = auth.Key.from_env()
        self.sealer = auth.Sealer(self.key, self.incarnation)
        self.admission = Admission(coordinator_only)
        self.rejections = Rejections(log)
        st = self.settings.stream
        self.host = host_of(st.placement, self.id, st.host, self.incarnation)
        self.net = NetFaults.for_process(netspec.from_setting(st.net), self.id, self.incarnation)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RCVBUF)
        sock.bind((self.host, 0))
        sock.settimeout(POLL_S)
        self.udp: Any = self.net.udp(sock) if self.net else sock
        self.hello: m.Hello | None = None
        self.registered = threading.Event()  # a hello_ack came: stop repeating hello
        self.last_heard = time.monotonic()  # last authentic datagram from the coordinator
        self.exit_code = 0
        # The first incarnation starts at the beginning, which is a consistent
        # state; a replacement must wait to be told which checkpoint to load.
        self.recovery_id = 0 if self.incarnation == 0 else UNRECOVERED
        self.last_cp_id = checkpoint.BEGINNING
        self.last_final = False
        self.last_recovery_ack: m.RecoveryAck | None = None
        self.status = Status(self.recovery_id)

    # -- coordinator link ---------------------------------------------------------
    def send(self, msg: m.Message) -> None:
        try:
            auth.send_datagram(self.udp, self.sealer.seal(msg, m.COORDINATOR, 0), self.coordinator)
        except OSError as exc:  # the coordinator is gone or the buffer is full: UDP may lose it anyway
            log.debug("cannot send %s: %s", msg.TYPE, exc)

    def start_link(self, port: int = 0) -> None:
        """Say hello (with our TCP port, if any), then start heartbeats and listening."""
        self.hello = m.Hello(self.id, self.incarnation, os.getpid(), port)
        self.send(self.hello)
        for target in (self._heartbeats, self._listen):
            threading.Thread(target=target, name=target.__name__.strip("_"), daemon=True).start()

    def heartbeat(self) -> None:
        s = self.status
        self.send(m.Heartbeat(self.id, self.incarnation, s.recovery_id, s.position, s.done,
                              self.rejections.snapshot()))

    def _heartbeats(self) -> None:
        """Heartbeats; the hello again until acknowledged; leave once contact is lost."""
        st = self.settings.stream
        while not self.stopping.wait(st.heartbeat_interval_s):
            if not self.registered.is_set() and self.hello is not None:
                self.send(self.hello)
            self.heartbeat()
            silent = time.monotonic() - self.last_heard
            if self.registered.is_set() and silent > st.lost_contact_s:  # armed by a coordinator that answers
                self.leave(LOST_CONTACT_EXIT, f"nothing from the coordinator for {silent:.1f}s "
                           f"(stream.lost_contact_s={st.lost_contact_s:g}); exiting")

    def leave(self, code: int, why: str) -> None:
        """Stop on our own (superseded, or cut off): the coordinator may be unable to kill us."""
        log.warning("%s", why)
        self.exit_code = code  # run_worker traces the exit with it
        self.stopping.set()

    def _listen(self) -> None:
        auth.receive_udp(self.udp, self.stopping, self._check_datagram, self._queue_control,
                         self.rejections.add)

    def _check_datagram(self, data: bytes) -> auth.Envelope:
        return self.admission.admit(auth.open_datagram(self.key, data, self.id, self.incarnation))

    def _queue_control(self, env: auth.Envelope, addr: tuple[str, int]) -> None:
        """An authentic frame of the coordinator, addressed to this incarnation."""
        msg = env.msg
        self.last_heard = time.monotonic()
        if env.view is not None:
            self.on_view(env.view)
        if isinstance(msg, m.HelloAck):
            self.registered.set()
        elif isinstance(msg, m.Superseded):
            if msg.by_incarnation > self.incarnation:
                self.leave(SUPERSEDED_EXIT, f"superseded by incarnation {msg.by_incarnation}; exiting")
        elif isinstance(msg, (m.Checkpoint, m.Recovery, m.Exit)):
            self.commands.put(msg)
        else:
            self.rejections.add(auth.Rejected("unexpected", f"{msg.TYPE} from {msg.sender}"), addr)

    def on_view(self, view: dict[str, int]) -> None:
        """The incarnations the coordinator started last (reducers admit mappers by them)."""

    # -- shared protocol -------------------------------------------------------------
    def publish(self) -> None:
        """Replace the status heartbeats report (one atomic reference swap)."""
        self.status = Status(self.recovery_id, *self.progress())

    def progress(self) -> tuple[int, bool]:
        """(entries processed, done) for heartbeats; only mappers have any."""
        return 0, False

    def handle_control(self, msg: m.Message) -> None:
        """A command from the coordinator listener."""
        if isinstance(msg, m.Recovery):
            self.on_recovery(msg)
        elif isinstance(msg, m.Checkpoint):
            self.on_checkpoint(msg)
        elif isinstance(msg, m.Exit):
            log.info("exit requested")
            self.heartbeat()  # a last report of what we rejected
            self.stopping.set()

    def on_recovery(self, msg: m.Recovery) -> None:
        """Roll back once per recovery id; a repeated message is only re-acked."""
        if msg.recovery_id < self.recovery_id:
            return
        if msg.recovery_id == self.recovery_id:
            if self.last_recovery_ack is not None and self.last_recovery_ack.recovery_id == msg.recovery_id:
                self.send(self.last_recovery_ack)
            return
        self.crash.at("on_recovery")
        error = ""
        try:
            self.restore(msg.checkpoint_id)
        except checkpoint.CheckpointError as exc:
            log.error("cannot recover: %s", exc)
            error = str(exc)
        else:
            self.recovery_id = msg.recovery_id
            self.last_cp_id, self.last_final = msg.checkpoint_id, False
            checkpoint.prune(self.checkpoint_dir, self.id, keep=msg.checkpoint_id, older_only=False)
            log.info("recovered to checkpoint %d under recovery %d", msg.checkpoint_id, msg.recovery_id)
        self.publish()
        self.last_recovery_ack = m.RecoveryAck(self.id, msg.recovery_id, msg.checkpoint_id,
                                               self.status.position, error)
        self.send(self.last_recovery_ack)

    def is_current(self, recovery_id: int) -> bool:
        return self.recovery_id != UNRECOVERED and recovery_id == self.recovery_id

    def ack_checkpoint(self) -> None:
        cls = m.LastCheckpointAck if self.last_final else m.CheckpointAck
        self.send(cls(self.id, self.last_cp_id, self.recovery_id))

    def reack_if_taken(self, msg: m.Checkpoint) -> bool:
        """True if checkpoint `msg` is already taken (then the ack is repeated)."""
        if self.is_current(msg.recovery_id) and msg.checkpoint_id == self.last_cp_id:
            self.ack_checkpoint()
            return True
        return False

    def save_checkpoint(self, checkpoint_id: int, final: bool, completed_id: int, state: dict) -> None:
        """Write our file, then forget files older than the last completed checkpoint."""
        checkpoint.write(self.checkpoint_dir, self.id, checkpoint_id, {**state, "final": final})
        trace.event(trace.SNAPSHOT_WRITTEN, cp=checkpoint_id)
        self.last_cp_id, self.last_final = checkpoint_id, final
        checkpoint.prune(self.checkpoint_dir, self.id, keep=completed_id)

    def load_checkpoint(self, checkpoint_id: int) -> dict | None:
        """The state saved at `checkpoint_id`, or None for the beginning."""
        if checkpoint_id == checkpoint.BEGINNING:
            return None
        return checkpoint.read(self.checkpoint_dir, self.id, checkpoint_id)

    def next_command(self, timeout: float | None) -> Any:
        """The next queued command, waiting at most `timeout` (None: do not wait)."""
        try:
            return self.commands.get(timeout=timeout) if timeout else self.commands.get_nowait()
        except queue.Empty:
            return None

    def close(self) -> None:
        self.stopping.set()
        self.udp.close()
        if self.net is not None:
            log.info("network faults injected on receipt: %s", self.net.summary())

    # -- per kind ------------------------------------------------------------------------
    def restore(self, checkpoint_id: int) -> None:
        raise NotImplementedError

    def on_checkpoint(self, msg: m.Checkpoint) -> None:
        raise NotImplementedError


def run_worker(cls: type[StreamWorker], args: argparse.Namespace) -> int:
    """Entry point body shared by `python -m mapper` and `python -m reducer`."""
    settings = load_settings(args.settings)
    setup_logging(args, settings)
    trace.event(trace.START)
    worker = cls(args, settings)
    try:
        code = worker.run() or worker.exit_code  # type: ignore[attr-defined]
    finally:
        worker.close()
    trace.event(trace.EXIT, code=code)
    return code


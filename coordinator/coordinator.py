"""The coordinator process: runs the phase machine against real sockets,
processes and clocks.

Threads:
* receiver -- blocks on the UDP socket, verifies datagrams (the job key,
  addressed to us, from the incarnation of the sender that the supervisor
  started last, a fresh sequence number: wordcount/stream/auth.py and
  admission.py) and puts them on the event queue; the rest are counted by
  reason, logged (rate-limited) and dropped;
* main -- the only thread that touches coordinator state: it takes events
  from the queue (waiting at most TICK_S), feeds them, the exits of worker
  processes and a Tick with the monotonic time to `phases.step`, and carries
  out the actions: sends (the sender), restarts (the supervisor; spawning
  from this long-lived thread keeps PDEATHSIG meaningful), finishing. The
  Tick is the health monitor: a worker whose heartbeat deadline passed is
  failed by the phase machine. After every tick and every step it hands
  the crash injector (injector.py: kills by the clock, or at the logical
  points of --chaos/--kill-at) what happened, and updates the status line
  for the launcher (status.py: JSON lines on stdout).

Startup: reducers first; each says hello with the TCP port it listens on
(the configured one, or the one it picked for 0); then mappers, which get
those ports as arguments (their interpreters were started together with the
reducers' and wait for that: wordcount/warm.py). A replacement reducer
rebinds its port.
"""
from __future__ import annotations

import logging
import queue
import socket
import threading
import time

import message as m
from coordinator import phases
from coordinator.phases import (
    Finish,
    Phase,
    Received,
    Restart,
    Send,
    Tick,
    WorkerExited,
)
from coordinator.injector import FaultInjector
from coordinator.recoveries import RecoveryLog
from coordinator.status import StatusLine
from coordinator.streams import StreamsReady
from coordinator.supervisor import Supervisor
from wordcount import trace
from wordcount.config import Settings
from wordcount.errors import JobFailed, UserError
from wordcount.faults import netspec
from wordcount.faults.network import NetFaults
from wordcount.ids import REDUCER, WorkerId, all_ids, mapper
from wordcount.stream import auth, checkpoint
from wordcount.stream.admission import Admission, Rejections, rejected_record
from wordcount.stream.spec import JobSpec

log = logging.getLogger("coordinator")
TICK_S = 0.05  # longest wait for an event: bounds timer and exit-detection latency
# At the end, workers exit right after their last ack and nothing else arrives: looking for their exits
# this often (for the tenth of a second that takes) ends the job that much sooner than TICK_S would.
EXIT_POLL_S = 0.005
STARTUP_TIMEOUT_S = 30.0


def bind_udp(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if port:
            raise UserError(f"stream.coordinator_port {port} is in use; pick another or use 0") from None
        raise UserError(f"cannot bind a UDP socket on stream.host {host!r}: {exc.strerror}") from None
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    sock.settimeout(0.5)
    return sock


class Coordinator:
    def __init__(self, spec: JobSpec, settings: Settings, streams_on_stdin: bool = False) -> None:
        self.spec = spec
        self.settings = settings
        st = settings.stream
        self.timing = phases.Timing(st.checkpoint_interval_s, st.heartbeat_timeout_s, st.resend_timeout_s)
        self.key = auth.Key.from_env()
        self.sealer = auth.Sealer(self.key, 0)
        self.net = NetFaults.for_process(netspec.from_setting(st.net), m.COORDINATOR)
        sock = bind_udp(st.host, st.coordinator_port)
        self.sock = self.net.udp(sock) if self.net else sock
        self.events: queue.Queue = queue.Queue()  # (message, address); (None, None) only wakes the loop
        wake = lambda: self.events.put((None, None))  # noqa: E731
        self.streams = StreamsReady.from_stdin(wake) if streams_on_stdin else StreamsReady(None, wake)
        self.stopping = threading.Event()
        self.addresses: dict[str, tuple[str, int]] = {}
        self.sup = Supervisor(spec, settings, self.sock.getsockname())
        self.admission = Admission(self.sup.incarnation.get)  # only the incarnation started last
        self.rejections = Rejections(log)
        self.reported: dict[tuple[str, int], dict[str, int]] = {}  # (worker, incarnation) -> its rejections
        self.t0 = time.monotonic()
        self.recoveries = RecoveryLog(self.t0)
        self.state: phases.State | None = None
        self.finish: Finish | None = None
        self.injector = FaultInjector(spec, self.sup, self.recoveries, self.t0)
        self.status = StatusLine(spec.total_files)
        self.zombies: list[dict] = []

    # -- receiver thread -------------------------------------------------------------
    def _receive(self) -> None:
        auth.receive_udp(self.sock, self.stopping, self._check, lambda env, addr: self.events.put((env.msg, addr)),
                         self._rejected)

    def _check(self, data: bytes) -> auth.Envelope:
        env = auth.open_datagram(self.key, data, m.COORDINATOR, 0)
        try:
            return self.admission.admit(env)
        except auth.Rejected as exc:
            if exc.reason == "stale_incarnation":
                exc.stale = env.msg  # type: ignore[attr-defined]  # authentic, from a replaced process
            raise

    # -- sender --------------------------------------------------------------------------
    def send(self, wid: str, msg: m.Message) -> None:
        addr = self.addresses.get(wid)
        if addr is None:
            log.debug("no address for %s yet; %s not sent (it is repeated later)", wid, msg.TYPE)
            return
        frame = self.sealer.seal(msg, wid, self.sup.incarnation[wid], view=self.sup.incarnation)
        try:
            auth.send_datagram(self.sock, frame, addr)
        except OSError as exc:
            log.warning("cannot send %s to %s: %s", msg.TYPE, wid, exc)

    def note_sender(self, msg: m.Message, addr: tuple[str, int]) -> None:
        """Learn a worker's address from its current incarnation's hello or heartbeat,
        and answer it: `hello_ack` to the current incarnation (it stops repeating
        its hello, and knows we are there); note what its heartbeats say it
        rejected. (An older incarnation's frames never get here: admission
        rejects them, and `_rejected` tells their sender it was superseded.)"""
        if isinstance(msg, m.Heartbeat):
            self.reported[(msg.sender, msg.incarnation)] = msg.rejected
        if isinstance(msg, (m.Hello, m.Heartbeat)) and msg.incarnation == self.sup.incarnation.get(msg.sender):
            current = msg.incarnation
            if self.addresses.get(msg.sender) != addr:
                log.info("%s incarnation %d is at %s:%d", msg.sender, current, *addr)
            self.addresses[msg.sender] = addr
            sender = WorkerId.parse(msg.sender)  # one we started: it has an incarnation
            if isinstance(msg, m.Hello) and sender.kind == REDUCER and msg.port:
                self.sup.reducer_ports[sender.index] = msg.port
            if sender.kind != REDUCER or self.sup.reducer_ports[sender.index]:  # not before its port is known
                self._reply(m.HelloAck(m.COORDINATOR), msg.sender, current, addr, self.sup.incarnation)

    def _reply(self, msg: m.Message, wid: str, incarnation: int, addr: tuple[str, int],
               view: dict[str, int] | None = None) -> None:
        """Answer a datagram at its source address (which may not be the worker's current one)."""
        try:
            auth.send_datagram(self.sock, self.sealer.seal(msg, wid, incarnation, view=view), addr)
        except OSError as exc:
            log.debug("cannot answer %s at %s: %s", wid, addr, exc)

    def _rejected(self, exc: auth.Rejected, addr: tuple[str, int]) -> None:
        """Count a dropped frame; an authentic hello or heartbeat of a superseded
        incarnation -- a zombie we could not kill -- is answered `superseded`, so
        that it stops. (Receiver thread: it only reads the supervisor's
        incarnations, like admission does, and sends.)"""
        self.rejections.add(exc, addr)
        stale = getattr(exc, "stale", None)
        if isinstance(stale, (m.Hello, m.Heartbeat)):
            current = self.sup.incarnation.get(stale.sender)
            if current is not None and stale.incarnation < current:
                self._reply(m.Superseded(m.COORDINATOR, current), stale.sender, stale.incarnation, addr)

    # -- main thread ---------------------------------------------------------------------
    def run(self) -> dict:
        threading.Thread(target=self._receive, name="receiver", daemon=True).start()
        try:
            self.startup()
            self.loop()
            self.shutdown_workers()
        finally:
            self.stopping.set()
            self.sup.stop_all()
        return self.result()

    def startup(self) -> None:
        """Reducers, their ports, then mappers; then the phase machine starts. The
        mappers' interpreters start together with the reducers (warm,
        wordcount/warm.py) and get their go, with the ports, once all are known
        and the launcher has filled their streams (streams.py)."""
        reducers = [str(w) for w in all_ids(self.spec.mappers, self.spec.reducers) if w.kind == REDUCER]
        for wid in reducers:
            self.sup.start(wid, 0)
        for i in range(self.spec.mappers):
            self.sup.prestart(str(mapper(i)), 0)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            reducers_up = all(w in self.addresses for w in reducers) and 0 not in self.sup.reducer_ports
            if reducers_up and self.streams.is_ready():
                break
            for wid, _ in self.sup.exited():
                raise JobFailed(f"{wid} exited while starting; see {self.spec.run_path}/logs/{wid}.0.log")
            if self.streams.gone:
                raise JobFailed("the launcher stopped before the input streams were filled")
            if not reducers_up and time.monotonic() > deadline:  # (Redis in Docker may take longer)
                raise JobFailed(f"reducers did not report within {STARTUP_TIMEOUT_S:.0f}s; see "
                                f"{self.spec.run_path}/logs")
            self._note_next(TICK_S)
        for i in range(self.spec.mappers):
            self.sup.start(str(mapper(i)), 0)
        now = time.monotonic()
        self.state = phases.initial_state(self.timing, self.spec.mappers, self.spec.reducers, now,
                                          registered=reducers)
        self.injector.start(now)
        log.info("all workers started; ports %s", self.sup.reducer_ports)

    def loop(self) -> None:
        while self.finish is None:
            batch = self._next_events()
            now = time.monotonic()
            for msg, addr in batch:
                self.note_sender(msg, addr)
                self.feed(Received(msg, now), now)
            for wid, inc in self.sup.exited():
                self.feed(WorkerExited(wid, inc, now), now)
            self.feed(Tick(now), now)
            assert self.state is not None
            self.injector.on_tick(self.state, now)
            self.status.update(self.state, self.sup.running, now)

    def _note_next(self, timeout: float) -> None:
        """`note_sender` of the next queued frame, if one comes within `timeout`
        (before and after the phase machine runs; a wake-up is no frame)."""
        try:
            msg, addr = self.events.get(timeout=timeout)
        except queue.Empty:
            return
        if msg is not None:
            self.note_sender(msg, addr)

    def _next_events(self) -> list:
        try:
            batch = [self.events.get(timeout=TICK_S)]
        except queue.Empty:
            return []
        while len(batch) < 1000:
            try:
                batch.append(self.events.get_nowait())
            except queue.Empty:
                break
        return [event for event in batch if event[0] is not None]  # not the wake-ups (streams.py)

    def feed(self, event: phases.Event, now: float) -> None:
        if self.finish is not None:
            return
        before = self.state
        assert before is not None, "feed() before startup()"
        self.state, actions = phases.step(before, event)
        for action in actions:
            if isinstance(action, Send):
                self.send(action.to, action.msg)
            elif isinstance(action, Restart):
                self.addresses.pop(action.worker, None)
                if self.sup.running(action.worker):
                    trace.event(trace.HEARTBEAT_MISSED, target=action.worker)
                cause = self.sup.restart(action.worker, action.incarnation)
                log.warning("%s failed (%s); recovery %d to checkpoint %d", action.worker, cause,
                            self.state.recovery_id, self.state.completed_id)
                self.recoveries.failed(action.worker, cause, now, self.state.recovery_id)
            elif isinstance(action, Finish):
                self.finish = action
        steps = changes(before, self.state)
        trace_step(event, steps)
        if before.phase != self.state.phase:
            log.info("phase %s -> %s (recovery %d, completed checkpoint %d)", before.phase.name,
                     self.state.phase.name, self.state.recovery_id, self.state.completed_id)
        self.recoveries.observe(self.state, now)
        self.injector.after_step(self.state, [name for name, _ in steps], now)

    # -- the end -----------------------------------------------------------------------------
    def shutdown_workers(self) -> None:
        """Exit was sent with the last transition; repeat it until everyone has gone."""
        deadline = time.monotonic() + max(5.0, 3 * self.timing.resend_timeout_s)
        next_resend = time.monotonic() + self.timing.resend_timeout_s
        while time.monotonic() < deadline:
            self._note_next(EXIT_POLL_S)  # their last heartbeats
            if not (any(self.sup.running(w) for w in self.sup.procs) or self.sup.zombies_running()):
                break
            if time.monotonic() >= next_resend:
                for wid in self.sup.procs:
                    if self.sup.running(wid):
                        self.send(wid, m.Exit(m.COORDINATOR))
                next_resend = time.monotonic() + self.timing.resend_timeout_s
        self.zombies = self.sup.zombies()
        if self.net is not None:
            log.info("network faults injected on receipt: %s", self.net.summary())

    def result(self) -> dict:
        assert self.finish is not None and self.state is not None
        if self.finish.ok:  # only the final checkpoint is needed any more
            for wid in self.sup.procs:
                checkpoint.prune(self.spec.checkpoint_dir, wid, keep=self.finish.final_checkpoint_id,
                                 older_only=False)
        return {"ok": self.finish.ok, "reason": self.finish.reason,
                "final_checkpoint_id": self.finish.final_checkpoint_id,
                "checkpoints_completed": self.state.checkpoints_completed,
                "recovery_id": self.state.recovery_id,
                "recoveries": self.recoveries.to_json(), **self.injector.result(),
                **rejected_record(self.rejections.snapshot(), self.reported), "zombies": self.zombies}


def _pending_checkpoint(state: phases.State) -> int | None:
    in_cp = state.phase in (Phase.CP, Phase.LAST_CP)
    return state.pending.checkpoint_id if in_cp and state.pending is not None else None


def changes(before: phases.State, after: phases.State) -> list[tuple[str, dict]]:
    """What one step of the phase machine did, as trace events (name, fields).

    The trace records them and --chaos/--kill-at counts them, so "the 3rd
    checkpoint" means the same thing in a timeline and in a kill schedule.
    """
    out: list[tuple[str, dict]] = []
    was, now = _pending_checkpoint(before), _pending_checkpoint(after)
    if now is not None and now != was:
        out.append((trace.CHECKPOINT_SENT, {"cp": now, "final": after.pending.final}))  # type: ignore[union-attr]
    if after.completed_id != before.completed_id:
        out.append((trace.CHECKPOINT_COMPLETE, {"cp": after.completed_id}))
    elif was is not None and now != was:
        out.append((trace.CHECKPOINT_ABORTED, {"cp": was}))
    if after.recovery_id != before.recovery_id:
        out.append((trace.RECOVERY_STARTED, {"rid": after.recovery_id, "cp": after.completed_id}))
    if before.phase == Phase.RECOVER_MAPPER and after.phase != before.phase and after.phase != Phase.RECOVER_REDUCER:
        out.append((trace.RECOVERY_DONE, {"rid": after.recovery_id}))
    return out


def trace_step(event: phases.Event, steps: list[tuple[str, dict]]) -> None:
    """Trace events (wordcount/trace.py vocabulary) for one step: every ack
    received (with its recovery id, so a reader can tell a stale one), then
    what the step changed."""
    if isinstance(event, Received) and isinstance(event.msg, (m.CheckpointAck, m.LastCheckpointAck, m.RecoveryAck)):
        trace.event(trace.ACK, cp=event.msg.checkpoint_id, kind=event.msg.TYPE, src=event.msg.sender,
                    rid=event.msg.recovery_id)
    for name, fields in steps:
        trace.event(name, **fields)

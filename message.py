"""Every message of the streaming job (Lab 2) and the one codec they travel in.

Coordinator <-> workers talk over UDP, mappers -> reducers over TCP; both use
the same frame, so a message means the same thing wherever it is seen:

    frame   = length (4 bytes, big-endian, counts what follows) + payload
    payload = version (1 byte, VERSION) + UTF-8 JSON object

The JSON object has "type" (one of TYPES), "sender" (a worker id such as
"mapper-0", or "coordinator") and exactly the fields of that type's dataclass,
each checked against its declared type. Anything else -- a short or oversized
frame, a wrong version, bad JSON, a missing, extra or mistyped field -- raises
DecodeError, which receivers log before dropping the frame and carrying on.
JSON (never pickle) means bytes from a socket can at worst be rejected, never
run. A UDP datagram carries exactly one frame; a TCP connection a sequence of
them (read with `read_frame`). docs/lab2.md describes what each message does.
"""
from __future__ import annotations

import json
import logging
import socket
import struct
import threading
from dataclasses import dataclass, field, fields
from typing import Any, BinaryIO, Callable, ClassVar, Union

VERSION = 1
HEADER = struct.Struct("!I")
MAX_TCP_FRAME = 256 * 1024 * 1024  # word counts of one (file, reducer): large but bounded
MAX_UDP_FRAME = 65_507  # the most one IPv4 UDP datagram can carry
MAX_ID_LEN = 64
COORDINATOR = "coordinator"


class DecodeError(ValueError):
    """Bytes that are not a valid message; the receiver logs and drops them."""


@dataclass(frozen=True)
class Message:
    """Fields every message has; subclasses add their own and a TYPE tag."""

    TYPE: ClassVar[str] = ""
    sender: str


# -- worker -> coordinator (UDP) -------------------------------------------------
@dataclass(frozen=True)
class Hello(Message):
    """A worker's first datagram: registers its UDP address and (reducers) its TCP port.

    `port` is the port a reducer listens on for mappers (the one it picked when
    configured with 0); mappers send 0. `incarnation` counts restarts of this id.
    """

    TYPE: ClassVar[str] = "hello"
    incarnation: int
    pid: int
    port: int


@dataclass(frozen=True)
class Heartbeat(Message):
    """Sent every heartbeat interval; also carries progress and the done flag.

    Repeating `done` here makes a lost Done message harmless.
    """

    TYPE: ClassVar[str] = "heartbeat"
    incarnation: int
    recovery_id: int
    position: int  # mappers: entries of its stream processed since the beginning
    done: bool


@dataclass(frozen=True)
class _Ack(Message):
    """Checkpoint `checkpoint_id` is on disk; counts only for this recovery id."""

    checkpoint_id: int
    recovery_id: int


@dataclass(frozen=True)
class CheckpointAck(_Ack):
    TYPE: ClassVar[str] = "checkpoint_ack"


@dataclass(frozen=True)
class LastCheckpointAck(_Ack):
    TYPE: ClassVar[str] = "last_checkpoint_ack"


@dataclass(frozen=True)
class Done(Message):
    """A mapper's stream is exhausted (for this recovery id)."""

    TYPE: ClassVar[str] = "done"
    recovery_id: int
    position: int


@dataclass(frozen=True)
class RecoveryAck(Message):
    """Rolled back to `checkpoint_id`; a non-empty `error` means it could not."""

    TYPE: ClassVar[str] = "recovery_ack"
    recovery_id: int
    checkpoint_id: int
    position: int
    error: str


# -- coordinator -> workers (UDP) ------------------------------------------------
@dataclass(frozen=True)
class _Marker(Message):
    """Fields of a checkpoint request and of the marker that carries it on.

    `final` marks the last checkpoint of the job. `completed_id` is the newest
    checkpoint known complete, so files older than it may be deleted.
    """

    checkpoint_id: int
    recovery_id: int
    final: bool
    completed_id: int


@dataclass(frozen=True)
class Checkpoint(_Marker):
    """Take a checkpoint. Sent to mappers; re-sent to any worker whose ack is missing."""

    TYPE: ClassVar[str] = "checkpoint"


@dataclass(frozen=True)
class Recovery(Message):
    """Roll back to `checkpoint_id` (0 = the beginning) and adopt `recovery_id`."""

    TYPE: ClassVar[str] = "recovery"
    recovery_id: int
    checkpoint_id: int


@dataclass(frozen=True)
class Exit(Message):
    TYPE: ClassVar[str] = "exit"


@dataclass(frozen=True)
class HelloAck(Message):
    """Reply to every hello and heartbeat of the current `incarnation`.

    A worker repeats its hello until one arrives (a lost hello would leave a
    reducer's port unknown), and counts any as contact with the coordinator.
    """

    TYPE: ClassVar[str] = "hello_ack"
    incarnation: int


@dataclass(frozen=True)
class Superseded(Message):
    """Reply to a hello or heartbeat of an older incarnation: `incarnation` has
    replaced the sender, which must stop (it was declared dead, e.g. while
    partitioned, and the coordinator could not kill it)."""

    TYPE: ClassVar[str] = "superseded"
    incarnation: int


# -- mapper -> reducer (TCP) -------------------------------------------------------
@dataclass(frozen=True)
class ForwardedCheckpoint(_Marker):
    """The checkpoint marker a mapper puts on each of its output channels."""

    TYPE: ClassVar[str] = "fwd_checkpoint"


@dataclass(frozen=True)
class WordCounts(Message):
    """The counts of one input file's words that belong to the receiving reducer."""

    TYPE: ClassVar[str] = "word_count"
    recovery_id: int
    entry_id: str  # the stream entry (file) these counts came from
    counts: dict[str, int] = field(default_factory=dict)


AnyMessage = Union[Hello, Heartbeat, CheckpointAck, LastCheckpointAck, Done, RecoveryAck,
                   Checkpoint, Recovery, Exit, HelloAck, Superseded, ForwardedCheckpoint, WordCounts]
TYPES: dict[str, type[Message]] = {
    cls.TYPE: cls
    for cls in (Hello, Heartbeat, CheckpointAck, LastCheckpointAck, Done, RecoveryAck,
                Checkpoint, Recovery, Exit, HelloAck, Superseded, ForwardedCheckpoint, WordCounts)
}


# -- encoding -----------------------------------------------------------------------
def encode(msg: Message) -> bytes:
    """The complete frame (length prefix included) for `msg`."""
    body = {"type": msg.TYPE}
    body.update((f.name, getattr(msg, f.name)) for f in fields(msg))
    payload = bytes([VERSION]) + json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return HEADER.pack(len(payload)) + payload


# -- decoding and validation ----------------------------------------------------------
def _is_int(v: Any) -> bool:
    return type(v) is int and -(2**63) <= v < 2**63


def _check_counts(v: Any) -> bool:
    """A word -> positive count mapping; checked in bulk since it can be huge."""
    return (type(v) is dict and all(type(k) is str for k in v)
            and all(type(c) is int and 0 < c < 2**63 for c in v.values()))


_CHECKS = {
    "int": _is_int,
    "bool": lambda v: type(v) is bool,
    "str": lambda v: type(v) is str,
    "dict[str, int]": _check_counts,
}


def _check_field(cls: type[Message], name: str, annotation: str, value: Any) -> None:
    if not _CHECKS[annotation](value):
        raise DecodeError(f"{cls.TYPE}.{name} must be {annotation}, got {type(value).__name__}")


def decode_payload(payload: bytes) -> Message:
    """Validate and build the message in `payload` (the frame minus its length)."""
    if not payload:
        raise DecodeError("empty payload")
    if payload[0] != VERSION:
        raise DecodeError(f"unsupported version {payload[0]} (expected {VERSION})")
    try:
        body = json.loads(payload[1:].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DecodeError(f"body is not UTF-8 JSON: {exc}") from None
    if type(body) is not dict:
        raise DecodeError("body is not a JSON object")
    cls = TYPES.get(body.pop("type", None))  # type: ignore[arg-type]
    if cls is None:
        raise DecodeError("missing or unknown message type")
    declared = {f.name: str(f.type) for f in fields(cls)}
    if set(body) != set(declared):
        missing, extra = set(declared) - set(body), set(body) - set(declared)
        raise DecodeError(f"{cls.TYPE}: missing fields {sorted(missing)}, unexpected {sorted(extra)}")
    for name, annotation in declared.items():
        _check_field(cls, name, annotation, body[name])
    if not 0 < len(body["sender"]) <= MAX_ID_LEN:
        raise DecodeError(f"{cls.TYPE}.sender must be 1..{MAX_ID_LEN} characters")
    return cls(**body)


def decode(frame: bytes, max_size: int = MAX_UDP_FRAME) -> Message:
    """Decode one whole frame, e.g. a UDP datagram; its length must match exactly."""
    if len(frame) > max_size:
        raise DecodeError(f"frame of {len(frame)} bytes exceeds the limit of {max_size}")
    if len(frame) < HEADER.size:
        raise DecodeError(f"frame of {len(frame)} bytes is shorter than its length prefix")
    (length,) = HEADER.unpack_from(frame)
    if length != len(frame) - HEADER.size:
        raise DecodeError(f"length prefix says {length} bytes, frame holds {len(frame) - HEADER.size}")
    return decode_payload(frame[HEADER.size:])


class StreamClosed(Exception):
    """The TCP peer closed the connection (cleanly or in the middle of a frame)."""


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    data = stream.read(n)
    if data is None or len(data) < n:
        raise StreamClosed(f"connection closed {len(data or b'')} bytes into a {n}-byte read")
    return data


def read_frame(stream: BinaryIO, max_size: int = MAX_TCP_FRAME) -> bytes:
    """The next payload from a buffered TCP stream (sock.makefile('rb')).

    Raises StreamClosed at end of stream and DecodeError for a length over
    `max_size`: after that the stream cannot be resynchronised, so the caller
    closes the connection. A payload that then fails `decode_payload` is just
    one bad frame; the next one can still be read.
    """
    (length,) = HEADER.unpack(_read_exact(stream, HEADER.size))
    if length > max_size:
        raise DecodeError(f"frame length {length} exceeds the limit of {max_size}")
    return _read_exact(stream, length)


def receive_udp(sock: socket.socket, stopping: threading.Event,
                deliver: Callable[[Message, tuple[str, int]], None], log: logging.Logger) -> None:
    """Receive datagrams until `stopping` is set, handing each valid message to
    `deliver`; malformed ones are logged and dropped. `sock` needs a timeout
    so that the stop flag is seen."""
    while not stopping.is_set():
        try:
            data, addr = sock.recvfrom(MAX_UDP_FRAME + 1)
        except socket.timeout:
            continue
        except OSError as exc:
            if stopping.is_set():
                return
            log.warning("UDP receive error: %s", exc)
            continue
        try:
            msg = decode(data)
        except DecodeError as exc:
            log.warning("dropped malformed datagram from %s (%d bytes): %s", addr, len(data), exc)
            continue
        deliver(msg, addr)


def send_udp(sock: socket.socket, msg: Message, addr: tuple[str, int]) -> None:
    """Send one message as one datagram; oversized control messages are a bug."""
    frame = encode(msg)
    if len(frame) > MAX_UDP_FRAME:
        raise ValueError(f"{msg.TYPE} message of {len(frame)} bytes does not fit a datagram")
    sock.sendto(frame, addr)

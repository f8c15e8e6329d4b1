"""Every message of the streaming job (Lab 2) and the JSON body codec they travel in.

Coordinator <-> workers talk over UDP, mappers -> reducers over TCP; both use
the same frame, so a message means the same thing wherever it is seen. The
frame -- length prefix, version byte (2), an authenticated envelope around
the message, an HMAC-SHA256 tag -- is built and checked by
wordcount/stream/auth.py; docs/protocol.md ("Frames") describes it. This
module defines the messages and turns one to and from its JSON object:

    {"type": <one of TYPES>, "sender": <worker id or "coordinator">, <fields>}

with exactly the fields of that type's dataclass, each checked against its
declared type. Anything else -- bad JSON, a missing, extra or mistyped field
-- raises DecodeError. The receiver only parses a body once its tag checked
out, and counts, logs and drops what fails. JSON (never pickle) means bytes
from a socket can at worst be rejected, never run. A UDP datagram carries
exactly one frame; a TCP connection a sequence of them (read with
`read_frame`). docs/protocol.md describes what each message does.
"""
from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass, field, fields
from typing import Any, BinaryIO, ClassVar, Union

HEADER = struct.Struct("!I")
MAX_TCP_FRAME = 256 * 1024 * 1024  # word counts of one (file, reducer): large but bounded
MAX_UDP_FRAME = 32 * 1024  # control messages are small; anything larger is not ours
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

    Repeating `done` here makes a lost Done message harmless. `rejected`
    (cumulative, reason -> count) lets the coordinator report every frame any
    process dropped, so an attack or a misconfigured part is never silent.
    """

    TYPE: ClassVar[str] = "heartbeat"
    incarnation: int
    recovery_id: int
    position: int  # mappers: entries of its stream processed since the beginning
    done: bool
    rejected: dict[str, int] = field(default_factory=dict)  # frames this process dropped, by reason


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
    """Reply to every hello and heartbeat of the current incarnation (the frame's
    envelope names it: no field here may be called `incarnation`, which means
    the sender's own).

    A worker repeats its hello until one arrives (a lost hello would leave a
    reducer's port unknown), and counts any as contact with the coordinator.
    """

    TYPE: ClassVar[str] = "hello_ack"


@dataclass(frozen=True)
class Superseded(Message):
    """Reply to a hello or heartbeat of an older incarnation: `by_incarnation`
    has replaced the receiver, which must stop (it was declared dead, e.g.
    while partitioned, and the coordinator could not kill it)."""

    TYPE: ClassVar[str] = "superseded"
    by_incarnation: int


# -- mapper -> reducer (TCP) -------------------------------------------------------
@dataclass(frozen=True)
class ForwardedCheckpoint(_Marker):
    """The checkpoint marker a mapper puts on each of its output channels."""

    TYPE: ClassVar[str] = "fwd_checkpoint"


@dataclass(frozen=True)
class WordCounts(Message):
    """The counts of some input entries' words that belong to the receiving reducer.

    On the wire `counts` is two strings (`pack_counts`): the words joined by
    newlines and their counts, in the same order, joined by commas.
    """

    TYPE: ClassVar[str] = "word_count"
    recovery_id: int
    entry_id: str  # the last stream entry these counts came from (a mapper may sum several)
    counts: dict[str, int] = field(default_factory=dict)


AnyMessage = Union[Hello, Heartbeat, CheckpointAck, LastCheckpointAck, Done, RecoveryAck,
                   Checkpoint, Recovery, Exit, HelloAck, Superseded, ForwardedCheckpoint, WordCounts]
TYPES: dict[str, type[Message]] = {
    cls.TYPE: cls
    for cls in (Hello, Heartbeat, CheckpointAck, LastCheckpointAck, Done, RecoveryAck,
                Checkpoint, Recovery, Exit, HelloAck, Superseded, ForwardedCheckpoint, WordCounts)
}


# -- the JSON body ---------------------------------------------------------------------
def to_body(msg: Message) -> dict[str, Any]:
    """The JSON object of `msg`: its type tag and every field (a word table packed)."""
    body: dict[str, Any] = {"type": msg.TYPE}
    body.update((f.name, getattr(msg, f.name)) for f in fields(msg))
    if isinstance(msg, WordCounts):
        body.update(pack_counts(msg.counts))
    return body


# -- word tables on the wire ---------------------------------------------------------------
# A word count message carries thousands of words. As a JSON object it cost the mapper ~0.5 us a
# word to encode and the reducer as much to parse and check; as two strings it is a few C calls
# each way: joins on one side; on the other splits, a regular expression over the counts, int()
# over them and one dict(). Words never hold whitespace (docs/parts.md), so a newline separates them.
_COUNTS = re.compile(r"[1-9][0-9]{0,18}(?:,[1-9][0-9]{0,18})*")


def pack_counts(counts: dict[str, int]) -> dict[str, str]:
    """{"words": "a\\nb", "counts": "2,1"}: the table as two strings, in the same order."""
    return {"words": "\n".join(counts), "counts": ",".join(map(str, counts.values()))}


def unpack_counts(words: Any, counts: Any) -> dict[str, int]:
    """Inverse of `pack_counts`, checked: as many words as counts, no empty or repeated word,
    every count a positive integer below 2**63. DecodeError otherwise."""
    if type(words) is not str or type(counts) is not str:
        raise DecodeError("word_count.words and word_count.counts must be strings")
    if not words and not counts:
        return {}
    if _COUNTS.fullmatch(counts) is None:
        raise DecodeError("word_count.counts must be positive integers joined by commas")
    keys, values = words.split("\n"), list(map(int, counts.split(",")))
    if len(keys) != len(values) or "" in keys or max(values) >= 2**63:
        raise DecodeError(f"word_count: {len(keys)} words for {len(values)} counts, an empty word or a count "
                          "out of range")
    table = dict(zip(keys, values))
    if len(table) != len(keys):
        raise DecodeError("word_count: a word appears twice")
    return table


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


def from_body(body: Any) -> Message:
    """Validate and build the message in `body` (a parsed JSON value)."""
    if type(body) is not dict:
        raise DecodeError("message is not a JSON object")
    body = dict(body)
    cls = TYPES.get(body.pop("type", None))  # type: ignore[arg-type]
    if cls is None:
        raise DecodeError("missing or unknown message type")
    if cls is WordCounts:
        if "words" not in body or "counts" not in body:
            raise DecodeError("word_count: missing fields words, counts")
        body["counts"] = unpack_counts(body.pop("words"), body["counts"])  # checked there
    declared = {f.name: str(f.type) for f in fields(cls)}
    if set(body) != set(declared):
        missing, extra = set(declared) - set(body), set(body) - set(declared)
        raise DecodeError(f"{cls.TYPE}: missing fields {sorted(missing)}, unexpected {sorted(extra)}")
    for name, annotation in declared.items():
        if cls is not WordCounts or name != "counts":
            _check_field(cls, name, annotation, body[name])
    if not 0 < len(body["sender"]) <= MAX_ID_LEN:
        raise DecodeError(f"{cls.TYPE}.sender must be 1..{MAX_ID_LEN} characters")
    return cls(**body)


def parse_json(data: bytes) -> Any:
    """UTF-8 JSON bytes -> value; DecodeError otherwise."""
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise DecodeError(f"body is not UTF-8 JSON: {exc}") from None


def dump_json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


# -- framing on a TCP stream -------------------------------------------------------------
class StreamClosed(Exception):
    """The TCP peer closed the connection (cleanly or in the middle of a frame)."""


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    data = stream.read(n)
    if data is None or len(data) < n:
        raise StreamClosed(f"connection closed {len(data or b'')} bytes into a {n}-byte read")
    return data


def read_frame(stream: BinaryIO, max_size: int = MAX_TCP_FRAME) -> bytes:
    """The next payload (the frame minus its length prefix) from a buffered TCP
    stream (sock.makefile('rb')).

    Raises StreamClosed at end of stream and DecodeError for a length over
    `max_size`, before reading the body: after that the stream cannot be
    resynchronised, so the caller closes the connection.
    """
    (length,) = HEADER.unpack(_read_exact(stream, HEADER.size))
    if length > max_size:
        raise DecodeError(f"frame length {length} exceeds the limit of {max_size}")
    return _read_exact(stream, length)

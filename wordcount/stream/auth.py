"""Authenticated frames of the streaming job (Lab 2): the envelope around every message.

Lab 2 runs on shared machines, where any local user can send datagrams to the
coordinator's UDP port or connect to a reducer's TCP port. So every frame
carries an HMAC-SHA256 tag under a per-job key that only the job's own
processes hold, and names its sender's incarnation and a sequence number, so
that neither a forged nor a replayed frame can change a run:

    frame   = length (4 bytes, big-endian, counts what follows) + payload
    payload = version (1 byte, VERSION = 2) + body + tag (32 bytes)
    tag     = HMAC-SHA256(key, version + body)
    body    = UTF-8 JSON {"dst": <receiver id>, "dst_inc": <its incarnation>,
                          "src_inc": <sender's incarnation>, "seq": <n >= 1>,
                          "msg": <message object, see message.py>}
              coordinator frames add "view": {worker id: incarnation started last}

The tag is checked (hmac.compare_digest) before any JSON is parsed, so a
forger costs us one HMAC. Who may send at which incarnation, and the replay
window, are the receiver's policy (wordcount/stream/admission.py). On TCP the
reducer first sends a challenge (VERSION, a random nonce, its incarnation);
every frame on that connection is then tagged under a key derived from the
nonce, and the first must be the mapper's `hello` (see `Channel`).
docs/protocol.md ("Frames") is the reference.

Key delivery: the launcher makes the key (`Key.generate`) and passes it to the
coordinator in the environment (WC_JOB_KEY, hex), which every child inherits;
/proc/PID/environ is readable only by the owner. It never appears on a
command line or in a file.
"""
from __future__ import annotations

import hmac
import logging
import os
import secrets
import socket
import struct
import threading
from dataclasses import dataclass
from typing import Any, BinaryIO, Callable, Mapping

import message as m
from wordcount.errors import UserError

log = logging.getLogger("auth")

VERSION = 2
TAG_SIZE = 32
KEY_SIZE = 32
NONCE_SIZE = 32
KEY_ENV = "WC_JOB_KEY"
INSECURE_ENV = "WC_INSECURE_NO_AUTH"  # "1": no HMAC (benchmarks only); every process warns loudly
HELLO_MAX = 4096  # a TCP connection's first frame (the hello) is small: no big read before it checks out
_ENVELOPE = frozenset({"dst", "dst_inc", "src_inc", "seq", "msg"})
_CHALLENGE = struct.Struct(f"!B{NONCE_SIZE}sI")  # version, nonce, the reducer's incarnation


class Rejected(Exception):
    """A frame that is dropped; `reason` is the counter it goes to (admission.REASONS)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class Key:
    """The job's HMAC key (or, only with WC_INSECURE_NO_AUTH=1, none: an all-zero tag)."""

    def __init__(self, secret: bytes | None) -> None:
        self._secret = secret

    @classmethod
    def generate(cls) -> "Key":
        return cls(_insecure_or(secrets.token_bytes(KEY_SIZE)))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "Key":
        """The key the launcher put in our environment; a clear error if there is none."""
        text = environ.get(KEY_ENV, "")
        try:
            secret = bytes.fromhex(text)
        except ValueError:
            secret = b""
        if len(secret) != KEY_SIZE:
            raise UserError(f"${KEY_ENV} must hold the job's {KEY_SIZE}-byte key in hex; "
                            "start Lab 2 processes through 'client.py stream'")
        return cls(_insecure_or(secret))

    def env(self) -> dict[str, str]:
        """What a child's environment needs to verify and sign frames."""
        return {KEY_ENV: (self._secret or bytes(KEY_SIZE)).hex()}

    @property
    def secure(self) -> bool:
        return self._secret is not None

    def tag(self, data: bytes) -> bytes:
        if self._secret is None:
            return bytes(TAG_SIZE)
        return hmac.digest(self._secret, data, "sha256")

    def verify(self, data: bytes, tag: bytes) -> bool:
        return hmac.compare_digest(self.tag(data), tag)

    def for_connection(self, nonce: bytes) -> "Key":
        """The key of one TCP connection: frames of another connection never verify on it."""
        if self._secret is None:
            return self
        return Key(hmac.digest(self._secret, b"wc-tcp-v2|" + nonce, "sha256"))


def _insecure_or(secret: bytes) -> bytes | None:
    if os.environ.get(INSECURE_ENV) != "1":
        return secret
    log.warning("!!! %s=1: Lab 2 frames are NOT authenticated; anyone on this machine can forge them. "
                "For measuring the cost of authentication only.", INSECURE_ENV)
    return None


@dataclass(frozen=True)
class Envelope:
    """A verified frame: the message and what the sender bound it to."""

    msg: m.Message
    dst: str
    dst_inc: int
    src_inc: int
    seq: int
    view: dict[str, int] | None = None


class Sealer:
    """Frames from one sender (one process, or one of its TCP connections): a
    fresh sequence number for each, under `key`. Thread-safe."""

    def __init__(self, key: Key, incarnation: int) -> None:
        self.key = key
        self.incarnation = incarnation
        self._seq = 0
        self._lock = threading.Lock()

    def next_seq(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def seal(self, msg: m.Message, dst: str, dst_inc: int, view: Mapping[str, int] | None = None) -> bytes:
        body: dict[str, Any] = {"dst": dst, "dst_inc": dst_inc, "src_inc": self.incarnation,
                                "seq": self.next_seq(), "msg": m.to_body(msg)}
        if view is not None:
            body["view"] = dict(view)
        signed = bytes([VERSION]) + m.dump_json(body)
        payload = signed + self.key.tag(signed)
        return m.HEADER.pack(len(payload)) + payload


# -- opening -----------------------------------------------------------------------------
def open_payload(key: Key, payload: bytes, me: str, my_inc: int) -> Envelope:
    """Verify and parse a payload (a frame minus its length) addressed to (me, my_inc)."""
    if not payload:
        raise Rejected("malformed", "empty payload: shorter than version + tag")
    if payload[0] != VERSION:
        raise Rejected("version", f"version {payload[0]} (this job speaks {VERSION})")
    if len(payload) < 1 + TAG_SIZE:
        raise Rejected("malformed", f"payload of {len(payload)} bytes is shorter than version + tag")
    signed, tag = payload[:-TAG_SIZE], payload[-TAG_SIZE:]
    if not key.verify(signed, tag):
        raise Rejected("bad_mac", "the tag does not match (not sent by this job, or altered)")
    try:
        env = _envelope(m.parse_json(signed[1:]))
    except m.DecodeError as exc:
        raise Rejected("malformed", str(exc)) from None
    if env.dst != me or env.dst_inc != my_inc:
        raise Rejected("misdirected", f"addressed to {env.dst}.{env.dst_inc}, not {me}.{my_inc}")
    return env


def _envelope(body: Any) -> Envelope:
    if type(body) is not dict or not _ENVELOPE <= set(body) <= _ENVELOPE | {"view"}:
        raise m.DecodeError(f"envelope must have exactly {sorted(_ENVELOPE)} (and maybe view)")
    dst, ints = body["dst"], [body[k] for k in ("dst_inc", "src_inc", "seq")]
    if type(dst) is not str or not all(type(v) is int and 0 <= v < 2**63 for v in ints):
        raise m.DecodeError("envelope dst must be a string; dst_inc, src_inc, seq non-negative integers")
    view = body.get("view")
    if view is not None and not (type(view) is dict and all(
            type(k) is str and type(v) is int and 0 <= v < 2**63 for k, v in view.items())):
        raise m.DecodeError("envelope view must map worker ids to incarnations")
    return Envelope(m.from_body(body["msg"]), dst, *ints, view=view)


def open_datagram(key: Key, data: bytes, me: str, my_inc: int) -> Envelope:
    """Verify and parse one whole UDP datagram; its length prefix must match exactly."""
    if len(data) > m.MAX_UDP_FRAME:
        raise Rejected("oversized", f"datagram of {len(data)} bytes exceeds the limit of {m.MAX_UDP_FRAME}")
    if len(data) < m.HEADER.size:
        raise Rejected("malformed", f"datagram of {len(data)} bytes is shorter than its length prefix")
    (length,) = m.HEADER.unpack_from(data)
    if length != len(data) - m.HEADER.size:
        raise Rejected("malformed", f"length prefix says {length} bytes, datagram holds {len(data) - 4}")
    return open_payload(key, data[m.HEADER.size:], me, my_inc)


# -- UDP ------------------------------------------------------------------------------------
def send_datagram(sock: socket.socket, frame: bytes, addr: tuple[str, int]) -> None:
    """One frame as one datagram; an oversized control frame is a bug."""
    if len(frame) > m.MAX_UDP_FRAME:
        raise ValueError(f"frame of {len(frame)} bytes does not fit the datagram limit")
    sock.sendto(frame, addr)


def receive_udp(sock: socket.socket, stopping: threading.Event, check: Callable[[bytes], Envelope],
                deliver: Callable[[Envelope, tuple[str, int]], None],
                reject: Callable[[Rejected, Any], None]) -> None:
    """Receive datagrams until `stopping` is set: `check` verifies each (raising
    Rejected, which goes to `reject`), `deliver` gets the rest. `sock` needs a
    timeout so that the stop flag is seen."""
    while not stopping.is_set():
        try:
            data, addr = sock.recvfrom(m.MAX_UDP_FRAME + 1)
        except socket.timeout:
            continue
        except OSError as exc:
            if stopping.is_set():
                return
            log.warning("UDP receive error: %s", exc)
            continue
        try:
            env = check(data)
        except Rejected as exc:
            reject(exc, addr)
            continue
        deliver(env, addr)


# -- TCP: challenge, hello, then a strict sequence ------------------------------------------------
def challenge_frame(nonce: bytes, incarnation: int) -> bytes:
    """What a reducer sends first on every accepted connection."""
    return m.HEADER.pack(_CHALLENGE.size) + _CHALLENGE.pack(VERSION, nonce, incarnation)


def read_challenge(stream: BinaryIO) -> tuple[bytes, int]:
    """(nonce, reducer incarnation) from a reducer; DecodeError if it is not one."""
    payload = m.read_frame(stream, _CHALLENGE.size)
    if len(payload) != _CHALLENGE.size or payload[0] != VERSION:
        raise m.DecodeError("the peer did not send a version-2 challenge")
    _, nonce, incarnation = _CHALLENGE.unpack(payload)
    return nonce, incarnation


class Channel:
    """The receiving end of one TCP connection (a reducer's, from one mapper).

    The first frame must be the sender's `hello`, tagged under this
    connection's key: that authenticates the connection and fixes who is at
    the other end (id and incarnation). Every later frame must come from the
    same sender with the next sequence number (TCP keeps order, so anything
    else is a replay or an injection).
    """

    def __init__(self, key: Key, me: str, my_inc: int) -> None:
        self.key, self.me, self.my_inc = key, me, my_inc
        self.peer: str | None = None
        self.peer_inc = -1
        self.seq = 0

    def open(self, payload: bytes) -> Envelope:
        env = open_payload(self.key, payload, self.me, self.my_inc)
        if env.seq != self.seq + 1:
            raise Rejected("replay", f"sequence {env.seq} on a connection at {self.seq}")
        self.seq = env.seq
        if self.peer is None:
            if not isinstance(env.msg, m.Hello) or env.msg.incarnation != env.src_inc:
                raise Rejected("unauthenticated_tcp", f"first frame is {env.msg.TYPE}, not a hello")
            self.peer, self.peer_inc = env.msg.sender, env.src_inc
        elif env.msg.sender != self.peer or env.src_inc != self.peer_inc:
            raise Rejected("unknown_sender", f"{env.msg.sender}.{env.src_inc} on {self.peer}.{self.peer_inc}'s "
                           "connection")
        return env

"""The Lab 2 codec, version 2 (message.py, wordcount/stream/auth.py). Properties:

* every message type round-trips through an authenticated frame, and every
  type has an example here;
* malformed input (truncated, oversized, wrong version, bad tag, bad JSON,
  unknown type, missing, extra or mistyped fields) is rejected with the
  reason it is counted under, never a crash, never pickle;
* the tag is checked before any JSON is parsed, so the body cases below are
  sealed with the right key to reach the parser.
"""
from __future__ import annotations

import io
import json
import pickle
import struct

import pytest

import message as m
from wordcount.stream import auth

pytestmark = pytest.mark.stream

KEY = auth.Key(bytes(range(32)))
EXAMPLES: list[m.Message] = [
    m.Hello("reducer-1", incarnation=2, pid=4242, port=7001),
    m.Heartbeat("mapper-0", incarnation=0, recovery_id=-1, position=17, done=False),
    m.Heartbeat("reducer-1", incarnation=3, recovery_id=2, position=0, done=False,
                rejected={"bad_mac": 120, "replay": 3}),
    m.CheckpointAck("reducer-0", checkpoint_id=3, recovery_id=1),
    m.LastCheckpointAck("mapper-1", checkpoint_id=9, recovery_id=2),
    m.Done("mapper-0", recovery_id=1, position=120),
    m.RecoveryAck("mapper-0", recovery_id=2, checkpoint_id=4, position=33, error=""),
    m.RecoveryAck("reducer-0", recovery_id=2, checkpoint_id=4, position=0, error="corrupt: crc"),
    m.Checkpoint(m.COORDINATOR, checkpoint_id=5, recovery_id=1, final=False, completed_id=4),
    m.Checkpoint(m.COORDINATOR, checkpoint_id=6, recovery_id=1, final=True, completed_id=5),
    m.Recovery(m.COORDINATOR, recovery_id=3, checkpoint_id=0),
    m.Exit(m.COORDINATOR),
    m.HelloAck(m.COORDINATOR),
    m.Superseded(m.COORDINATOR, by_incarnation=2),
    m.ForwardedCheckpoint("mapper-2", checkpoint_id=5, recovery_id=1, final=False, completed_id=4),
    m.WordCounts("mapper-0", recovery_id=1, entry_id="1700000000000-3",
                 counts={"café": 3, "日本語": 1, "a\tb": 2, "\x00": 1, "hello,": 7}),
]




def seal(msg: m.Message, dst: str = "coordinator", dst_inc: int = 0, key: auth.Key = KEY, inc: int = 0) -> bytes:
    return auth.Sealer(key, inc).seal(msg, dst, dst_inc)


def signed_frame(body: object, version: int = auth.VERSION, key: auth.Key = KEY) -> bytes:
    """A frame around any JSON value, correctly tagged: gets past the MAC to the parser."""
    signed = bytes([version]) + json.dumps(body).encode()
    payload = signed + key.tag(signed)
    return struct.pack("!I", len(payload)) + payload


def envelope(msg_body: object, **extra: object) -> dict:
    return {"dst": "coordinator", "dst_inc": 0, "src_inc": 0, "seq": 1, "msg": msg_body, **extra}


def open_(frame: bytes, me: str = "coordinator", my_inc: int = 0) -> auth.Envelope:
    return auth.open_datagram(KEY, frame, me, my_inc) if len(frame) <= m.MAX_UDP_FRAME else \
        auth.open_payload(KEY, frame[4:], me, my_inc)


def body_of(msg: m.Message) -> dict:
    return m.to_body(msg)


@pytest.mark.parametrize("msg", EXAMPLES, ids=lambda msg: msg.TYPE)
def test_every_message_type_round_trips(msg):
    frame = seal(msg, "reducer-1", 4)
    env = open_(frame, "reducer-1", 4)
    assert (env.msg, env.dst, env.dst_inc, env.src_inc, env.seq) == (msg, "reducer-1", 4, 0, 1)
    assert m.read_frame(io.BytesIO(frame)) == frame[4:]
    assert frame[4] == 2  # the wire version


def test_every_type_has_an_example():
    assert {type(e) for e in EXAMPLES} == set(m.TYPES.values())


def test_a_sealer_numbers_its_frames_and_the_view_travels():
    sealer = auth.Sealer(KEY, 7)
    frames = [sealer.seal(m.Exit(m.COORDINATOR), "mapper-0", 2, view={"mapper-0": 2}) for _ in range(3)]
    envs = [open_(f, "mapper-0", 2) for f in frames]
    assert [e.seq for e in envs] == [1, 2, 3] and all(e.src_inc == 7 for e in envs)
    assert envs[0].view == {"mapper-0": 2}


def test_large_word_counts_frame_round_trips():
    counts = {f"word{i}": i + 1 for i in range(200_000)}
    frame = seal(m.WordCounts("mapper-0", 0, "1-0", counts))
    assert len(frame) > 1_000_000  # not limited to some fixed frame size
    assert auth.open_payload(KEY, m.read_frame(io.BytesIO(frame)), "coordinator", 0).msg.counts == counts


def test_frames_on_a_stream_are_read_one_by_one():
    sealer = auth.Sealer(KEY, 0)
    stream = io.BytesIO(b"".join(sealer.seal(e, "coordinator", 0) for e in EXAMPLES))
    assert [auth.open_payload(KEY, m.read_frame(stream), "coordinator", 0).msg for _ in EXAMPLES] == EXAMPLES
    with pytest.raises(m.StreamClosed):
        m.read_frame(stream)


GOOD = body_of(m.CheckpointAck("reducer-0", 3, 1))
WC = body_of(EXAMPLES[-1])


def v1_frame(body: dict) -> bytes:
    """The old, unauthenticated format: length + version 1 + JSON."""
    payload = b"\x01" + json.dumps(body).encode()
    return struct.pack("!I", len(payload)) + payload


@pytest.mark.parametrize("frame, reason, detail", [
    (b"", "malformed", "shorter"),
    (b"\x00\x00", "malformed", "shorter"),
    (struct.pack("!I", 0), "malformed", "shorter than version"),
    (seal(m.Exit(m.COORDINATOR))[:-3], "malformed", "length prefix"),  # truncated
    (seal(m.Exit(m.COORDINATOR)) + b"xx", "malformed", "length prefix"),  # trailing garbage
    (v1_frame(GOOD), "version", "version 1"),
    (v1_frame({"type": "done", "sender": "mapper-0", "recovery_id": 0, "position": 10**6}), "version", "version 1"),
    (signed_frame(envelope(GOOD), version=0), "version", "version 0"),
    (struct.pack("!I", 40) + b"\x02" + bytes(39), "bad_mac", "tag"),  # garbage of the right version
    (seal(m.Exit(m.COORDINATOR), key=auth.Key(bytes(32))), "bad_mac", "tag"),  # a wrong key
    (signed_frame(envelope(GOOD))[:-1] + b"!", "bad_mac", "tag"),  # one byte of the tag altered
    (signed_frame(envelope(GOOD)).replace(b'"seq": 1', b'"seq": 2'), "bad_mac", "tag"),  # the body altered
    (struct.pack("!I", 5 + 32) + b"\x02\xff\xfe{}" + b"x" * 32, "bad_mac", "tag"),
    (signed_frame([1, 2]), "malformed", "envelope"),
    (signed_frame({**envelope(GOOD), "extra": 1}), "malformed", "envelope"),
    (signed_frame({k: v for k, v in envelope(GOOD).items() if k != "seq"}), "malformed", "envelope"),
    (signed_frame(envelope(GOOD, seq="1")), "malformed", "envelope"),
    (signed_frame(envelope(GOOD, src_inc=-1)), "malformed", "envelope"),
    (signed_frame(envelope(GOOD, view={"mapper-0": "1"})), "malformed", "view"),
    (signed_frame(envelope([1, 2])), "malformed", "object"),
    (signed_frame(envelope({**GOOD, "type": "pickle"})), "malformed", "type"),
    (signed_frame(envelope({k: v for k, v in GOOD.items() if k != "type"})), "malformed", "type"),
    (signed_frame(envelope({k: v for k, v in GOOD.items() if k != "recovery_id"})), "malformed", "missing"),
    (signed_frame(envelope({**GOOD, "extra": 1})), "malformed", "unexpected"),
    (signed_frame(envelope({**GOOD, "checkpoint_id": "3"})), "malformed", "must be int"),
    (signed_frame(envelope({**GOOD, "checkpoint_id": 3.0})), "malformed", "must be int"),
    (signed_frame(envelope({**GOOD, "checkpoint_id": True})), "malformed", "must be int"),
    (signed_frame(envelope({**GOOD, "checkpoint_id": 2**70})), "malformed", "must be int"),
    (signed_frame(envelope({**GOOD, "sender": 7})), "malformed", "must be str"),
    (signed_frame(envelope({**GOOD, "sender": ""})), "malformed", "sender"),
    (signed_frame(envelope({**GOOD, "sender": "x" * 65})), "malformed", "sender"),
    (signed_frame(envelope({**body_of(EXAMPLES[8]), "final": 1})), "malformed", "must be bool"),
    (signed_frame(envelope({**WC, "counts": ["a", 1]})), "malformed", "must be strings"),
    (signed_frame(envelope({**WC, "counts": {"a": 1}})), "malformed", "must be strings"),
    (signed_frame(envelope({**WC, "words": 7})), "malformed", "must be strings"),
    (signed_frame(envelope({k: v for k, v in WC.items() if k != "words"})), "malformed", "missing"),
    (signed_frame(envelope({**WC, "words": "a", "counts": "0"})), "malformed", "positive integers"),
    (signed_frame(envelope({**WC, "words": "a", "counts": "-2"})), "malformed", "positive integers"),
    (signed_frame(envelope({**WC, "words": "a", "counts": "1.5"})), "malformed", "positive integers"),
    (signed_frame(envelope({**WC, "words": "a", "counts": " 1"})), "malformed", "positive integers"),
    (signed_frame(envelope({**WC, "words": "a", "counts": "1_0"})), "malformed", "positive integers"),
    (signed_frame(envelope({**WC, "words": "a", "counts": "9223372036854775808"})), "malformed", "out of range"),
    (signed_frame(envelope({**WC, "words": "a\nb", "counts": "1"})), "malformed", "2 words for 1 counts"),
    (signed_frame(envelope({**WC, "words": "a\n\nb", "counts": "1,1,1"})), "malformed", "empty word"),
    (signed_frame(envelope({**WC, "words": "a\na", "counts": "1,1"})), "malformed", "twice"),
    (signed_frame(envelope(GOOD, dst="reducer-0")), "misdirected", "addressed to reducer-0"),
    (signed_frame(envelope(GOOD, dst_inc=1)), "misdirected", "coordinator.1"),
])
def test_malformed_frames_are_rejected(frame, reason, detail):
    with pytest.raises(auth.Rejected, match=detail) as info:
        open_(frame)
    assert info.value.reason == reason


def test_invalid_utf8_and_json_after_a_valid_tag_are_malformed():
    for body in (b"\xff\xfe{}", b"{no", b"[" * 100_000):
        signed = b"\x02" + body
        payload = signed + KEY.tag(signed)
        with pytest.raises(auth.Rejected, match="UTF-8 JSON") as info:
            auth.open_payload(KEY, payload, "coordinator", 0)
        assert info.value.reason == "malformed"


def test_oversized_datagram_is_rejected_and_never_sent():
    frame = seal(m.WordCounts("mapper-0", 0, "1-0", {"w" * 40_000: 1}))
    with pytest.raises(auth.Rejected, match="exceeds") as info:
        auth.open_datagram(KEY, frame, "coordinator", 0)  # the UDP limit
    assert info.value.reason == "oversized"
    with pytest.raises(ValueError):
        auth.send_datagram(None, frame, ("127.0.0.1", 9))  # type: ignore[arg-type]


def test_oversized_tcp_length_is_rejected_before_reading_the_body():
    stream = io.BytesIO(struct.pack("!I", m.MAX_TCP_FRAME + 1) + b"x" * 10)
    with pytest.raises(m.DecodeError, match="exceeds"):
        m.read_frame(stream)
    with pytest.raises(m.DecodeError, match="exceeds"):  # before its hello, a connection gets 4 KiB
        m.read_frame(io.BytesIO(struct.pack("!I", auth.HELLO_MAX + 1) + b"x" * 10), auth.HELLO_MAX)


def test_truncated_tcp_frame_is_stream_closed():
    frame = seal(EXAMPLES[0])
    with pytest.raises(m.StreamClosed):
        m.read_frame(io.BytesIO(frame[:-1]))
    with pytest.raises(m.StreamClosed):
        m.read_frame(io.BytesIO(frame[:2]))


def test_bad_frame_on_a_stream_leaves_the_next_one_readable():
    good = seal(EXAMPLES[2])
    stream = io.BytesIO(signed_frame(envelope({"type": "nope", "sender": "x"})) + good)
    with pytest.raises(auth.Rejected):
        auth.open_payload(KEY, m.read_frame(stream), "coordinator", 0)
    assert auth.open_payload(KEY, m.read_frame(stream), "coordinator", 0).msg == EXAMPLES[2]


def test_pickle_bytes_are_just_rejected():
    for version in (1, 2):
        payload = bytes([version]) + pickle.dumps(m.Exit("coordinator"))
        with pytest.raises(auth.Rejected):
            auth.open_datagram(KEY, struct.pack("!I", len(payload)) + payload, "coordinator", 0)
    with pytest.raises(m.DecodeError):  # even past the tag, JSON only
        m.parse_json(pickle.dumps(m.Exit("coordinator")))

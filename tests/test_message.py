"""The Lab 2 codec (message.py). Properties:

* every message type round-trips, and every type has an example here;
* a multi-MB word-count frame round-trips, and frames on a stream are read one by one;
* malformed frames (truncated, oversized, wrong version, bad JSON, unknown
  type, missing, extra or mistyped fields) are rejected with DecodeError,
  never a crash;
* an oversized TCP length is rejected before its body is read, a truncated
  frame closes the stream, and a bad frame leaves the next one readable;
* pickle bytes are just rejected, never unpickled.
"""
from __future__ import annotations

import io
import json
import struct

import pytest

import message as m

pytestmark = pytest.mark.stream

EXAMPLES: list[m.Message] = [
    m.Hello("reducer-1", incarnation=2, pid=4242, port=7001),
    m.Heartbeat("mapper-0", incarnation=0, recovery_id=-1, position=17, done=False),
    m.CheckpointAck("reducer-0", checkpoint_id=3, recovery_id=1),
    m.LastCheckpointAck("mapper-1", checkpoint_id=9, recovery_id=2),
    m.Done("mapper-0", recovery_id=1, position=120),
    m.RecoveryAck("mapper-0", recovery_id=2, checkpoint_id=4, position=33, error=""),
    m.RecoveryAck("reducer-0", recovery_id=2, checkpoint_id=4, position=0, error="corrupt: crc"),
    m.Checkpoint(m.COORDINATOR, checkpoint_id=5, recovery_id=1, final=False, completed_id=4),
    m.Checkpoint(m.COORDINATOR, checkpoint_id=6, recovery_id=1, final=True, completed_id=5),
    m.Recovery(m.COORDINATOR, recovery_id=3, checkpoint_id=0),
    m.Exit(m.COORDINATOR),
    m.HelloAck(m.COORDINATOR, incarnation=1),
    m.Superseded(m.COORDINATOR, incarnation=2),
    m.ForwardedCheckpoint("mapper-2", checkpoint_id=5, recovery_id=1, final=False, completed_id=4),
    m.WordCounts("mapper-0", recovery_id=1, entry_id="1700000000000-3",
                 counts={"café": 3, "日本語": 1, "a\tb": 2, "\x00": 1, "hello,": 7}),
]


def frame_of(body: dict, version: int = m.VERSION) -> bytes:
    payload = bytes([version]) + json.dumps(body).encode()
    return struct.pack("!I", len(payload)) + payload


def body_of(msg: m.Message) -> dict:
    return json.loads(m.encode(msg)[5:])


@pytest.mark.parametrize("msg", EXAMPLES, ids=lambda msg: msg.TYPE)
def test_every_message_type_round_trips(msg):
    frame = m.encode(msg)
    assert m.decode(frame, m.MAX_TCP_FRAME) == msg
    assert m.read_frame(io.BytesIO(frame)) == frame[4:]


def test_every_type_has_an_example():
    assert {type(e) for e in EXAMPLES} == set(m.TYPES.values())


def test_large_word_counts_frame_round_trips():
    counts = {f"word{i}": i + 1 for i in range(200_000)}
    frame = m.encode(m.WordCounts("mapper-0", 0, "1-0", counts))
    assert len(frame) > 1_000_000  # not limited to some fixed frame size
    assert m.decode_payload(m.read_frame(io.BytesIO(frame))).counts == counts


def test_frames_on_a_stream_are_read_one_by_one():
    stream = io.BytesIO(b"".join(m.encode(e) for e in EXAMPLES))
    assert [m.decode_payload(m.read_frame(stream)) for _ in EXAMPLES] == EXAMPLES
    with pytest.raises(m.StreamClosed):
        m.read_frame(stream)


GOOD = body_of(m.CheckpointAck("reducer-0", 3, 1))


@pytest.mark.parametrize("frame, reason", [
    (b"", "shorter"),
    (b"\x00\x00", "shorter"),
    (struct.pack("!I", 0), "empty"),
    (frame_of(GOOD)[:-3], "length prefix"),  # truncated
    (frame_of(GOOD) + b"xx", "length prefix"),  # trailing garbage
    (frame_of(GOOD, version=2), "version"),
    (frame_of(GOOD, version=0), "version"),
    (struct.pack("!I", 5) + bytes([m.VERSION]) + b"\xff\xfe{}", "UTF-8 JSON"),
    (struct.pack("!I", 4) + bytes([m.VERSION]) + b"{no", "UTF-8 JSON"),
    (frame_of([1, 2]), "object"),  # type: ignore[arg-type]
    (frame_of({**GOOD, "type": "pickle"}), "type"),
    (frame_of({k: v for k, v in GOOD.items() if k != "type"}), "type"),
    (frame_of({k: v for k, v in GOOD.items() if k != "recovery_id"}), "missing"),
    (frame_of({**GOOD, "extra": 1}), "unexpected"),
    (frame_of({**GOOD, "checkpoint_id": "3"}), "must be int"),
    (frame_of({**GOOD, "checkpoint_id": 3.0}), "must be int"),
    (frame_of({**GOOD, "checkpoint_id": True}), "must be int"),
    (frame_of({**GOOD, "checkpoint_id": 2**70}), "must be int"),
    (frame_of({**GOOD, "sender": 7}), "must be str"),
    (frame_of({**GOOD, "sender": ""}), "sender"),
    (frame_of({**GOOD, "sender": "x" * 65}), "sender"),
    (frame_of({**body_of(EXAMPLES[7]), "final": 1}), "must be bool"),
    (frame_of({**body_of(EXAMPLES[-1]), "counts": ["a", 1]}), "dict"),
    (frame_of({**body_of(EXAMPLES[-1]), "counts": {"a": "1"}}), "dict"),
    (frame_of({**body_of(EXAMPLES[-1]), "counts": {"a": 0}}), "dict"),
    (frame_of({**body_of(EXAMPLES[-1]), "counts": {"a": -2}}), "dict"),
    (frame_of({**body_of(EXAMPLES[-1]), "counts": {"a": 1.5}}), "dict"),
])
def test_malformed_frames_are_rejected(frame, reason):
    with pytest.raises(m.DecodeError, match=reason):
        m.decode(frame, m.MAX_TCP_FRAME)


def test_oversized_datagram_is_rejected():
    frame = m.encode(m.WordCounts("mapper-0", 0, "1-0", {"w" * 70_000: 1}))
    with pytest.raises(m.DecodeError, match="exceeds"):
        m.decode(frame)  # the UDP limit by default
    with pytest.raises(ValueError):
        m.send_udp(None, m.WordCounts("mapper-0", 0, "1-0", {"w" * 70_000: 1}), ("127.0.0.1", 9))  # type: ignore[arg-type]


def test_oversized_tcp_length_is_rejected_before_reading_the_body():
    stream = io.BytesIO(struct.pack("!I", m.MAX_TCP_FRAME + 1) + b"x" * 10)
    with pytest.raises(m.DecodeError, match="exceeds"):
        m.read_frame(stream)


def test_truncated_tcp_frame_is_stream_closed():
    frame = m.encode(EXAMPLES[0])
    with pytest.raises(m.StreamClosed):
        m.read_frame(io.BytesIO(frame[:-1]))
    with pytest.raises(m.StreamClosed):
        m.read_frame(io.BytesIO(frame[:2]))


def test_bad_frame_on_a_stream_leaves_the_next_one_readable():
    good = m.encode(EXAMPLES[2])
    stream = io.BytesIO(frame_of({"type": "nope", "sender": "x"}) + good)
    with pytest.raises(m.DecodeError):
        m.decode_payload(m.read_frame(stream))
    assert m.decode_payload(m.read_frame(stream)) == EXAMPLES[2]


def test_pickle_bytes_are_just_rejected():
    import pickle

    payload = bytes([m.VERSION]) + pickle.dumps(m.Exit("coordinator"))
    with pytest.raises(m.DecodeError):
        m.decode(struct.pack("!I", len(payload)) + payload)

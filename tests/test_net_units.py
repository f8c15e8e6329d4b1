"""Network faults on their own: the --net/--partition grammar and its one-line
errors, seeded replay, the datagram judge (loss, duplication, reordering,
delay, per kind and direction), a partition window on a real loopback UDP
socket, and the stall of TCP reads while partitioned."""
from __future__ import annotations

import argparse
import re
import socket
import threading
import time

import pytest

import message as m
from wordcount.config import Settings
from wordcount.errors import UserError
from wordcount.faults import netspec
from wordcount.faults.network import NetFaults, peek
from wordcount.placement import place_of
from wordcount.stream import auth
from wordcount.stream.netflags import add_net_arguments, apply_net

pytestmark = pytest.mark.timeout(30)
SEALER = auth.Sealer(auth.Key(bytes(auth.KEY_SIZE)), 0)  # real authenticated frames, as the job sends them
HB = SEALER.seal(m.Heartbeat("mapper-0", 0, 0, 1, False), m.COORDINATOR, 0)
ACK = SEALER.seal(m.CheckpointAck("reducer-1", 3, 0), m.COORDINATOR, 0)


def spec(*groups: str, partitions: tuple[str, ...] = (), seed: int = 7) -> netspec.NetSpec:
    return netspec.from_setting(netspec.to_setting(list(groups), list(partitions), seed))


# -- grammar ---------------------------------------------------------------------------------
def test_grammar_kinds_and_directions():
    g = netspec.parse_group("loss=0.2,dup=0.05,reorder[checkpoint,recovery]=0.1,delay=0.05,to=coordinator")
    assert [(r.fault, r.value) for r in g.rules] == [("loss", 0.2), ("dup", 0.05), ("reorder", 0.1), ("delay", 0.05)]
    assert g.rules[2].kinds == {"checkpoint", "recovery"} and g.to == "coordinator" and g.frm == ""
    assert g.rules_for("coordinator", "mapper-1", "heartbeat") == [g.rules[0], g.rules[1], g.rules[3]]
    assert g.rules_for("mapper-0", "coordinator", "checkpoint") == []
    assert netspec.matches("mapper", "mapper-3") and not netspec.matches("mapper", "reducer-0")
    assert netspec.matches("worker", "reducer-0") and not netspec.matches("worker", "coordinator")


@pytest.mark.parametrize("text, words", [
    ("loss=2", "probability between 0 and 1"),
    ("lose=0.1", "'lose=0.1' is not a clause"),
    ("loss[heartbeats]=0.1", "unknown message kind 'heartbeats'"),
    ("loss=x", "'x' in 'loss=x' is not a number"),
    ("to=mapper", "no fault given"),
    ("loss=0.1,to=nobody", "'nobody' is not coordinator"),
])
def test_bad_net_specs_are_one_line(text, words):
    with pytest.raises(UserError) as err:
        netspec.parse_group(text)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_partitions_parse_and_validate():
    p = netspec.parse_partition("mapper-1@1.5+3", ["mapper-0", "mapper-1"])
    assert (p.worker, p.start_s, p.end_s, str(p)) == ("mapper-1", 1.5, 4.5, "mapper-1@1.5+3")
    for bad, words in (("mapper-1@x+3", "WORKER@START+DURATION"), ("mapper-9@1+1", "not a worker of this job"),
                       ("mapper-0@1+0", "DURATION must be > 0")):
        with pytest.raises(UserError, match=re.escape(words)):
            netspec.parse_partition(bad, ["mapper-0", "mapper-1"])


def test_flags_become_the_setting_and_partitioned_workers_are_remote():
    parser = argparse.ArgumentParser()
    add_net_arguments(parser)
    parser.add_argument("--chaos", type=int)
    parser.add_argument("--seed", type=int)
    args = parser.parse_args(["--net", "loss=0.2", "--partition", "mapper-0@1+2", "--chaos", "5"])
    st = apply_net(args, Settings()).stream
    assert st.net == {"faults": ["loss=0.2"], "partitions": ["mapper-0@1+2"], "seed": 5}
    assert place_of(st.placement, "mapper-0", 0).remote and not place_of(st.placement, "mapper-0", 1).remote


# -- the judge ---------------------------------------------------------------------------------
def fates(faults: NetFaults, frame: bytes, n: int = 2000) -> list[list[float]]:
    return [faults.judge(frame) for _ in range(n)]


def test_same_seed_same_fates_other_seed_others():
    a, b = (NetFaults(spec("loss=0.2,dup=0.1,reorder=0.1"), "coordinator") for _ in range(2))
    assert fates(a, HB) == fates(b, HB)
    assert fates(NetFaults(spec("loss=0.2", seed=8), "coordinator"), HB) != fates(
        NetFaults(spec("loss=0.2"), "coordinator"), HB)


def test_rates_kinds_and_directions_are_honoured():
    f = NetFaults(spec("loss=0.2,dup=0.05,reorder=0.1"), "coordinator")
    got = fates(f, HB, 5000)
    lost = sum(not c for c in got) / len(got)
    dup = sum(len(c) == 2 for c in got) / len(got)
    late = sum(bool(c) and c[0] > 0 for c in got) / len(got)
    assert 0.17 < lost < 0.23 and 0.03 < dup < 0.07 and 0.06 < late < 0.12
    only_hb = NetFaults(spec("loss[heartbeat]=1"), "coordinator")
    assert only_hb.judge(HB) == [] and only_hb.judge(ACK) == [0.0]
    to_workers = NetFaults(spec("loss=1,to=worker"), "coordinator")
    assert to_workers.judge(HB) == [0.0]
    from_reducers = NetFaults(spec("loss=1,from=reducer"), "coordinator")
    assert from_reducers.judge(ACK) == [] and from_reducers.judge(HB) == [0.0]


def test_peek_reads_kind_and_sender_of_an_authenticated_frame():
    assert peek(HB) == ("heartbeat", "mapper-0")
    assert peek(SEALER.seal(m.Exit(m.COORDINATOR), "reducer-1", 2, view={"mapper-0": 3})) == ("exit", "coordinator")
    assert peek(ACK) == ("checkpoint_ack", "reducer-1")
    assert peek(b"junk") == ("", "")


# -- on real sockets ---------------------------------------------------------------------------
def udp_pair(faults: NetFaults) -> tuple[socket.socket, object]:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(0.2)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    return tx, faults.udp(rx)


def drain(sock, timeout: float) -> list[bytes]:
    got, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got.append(sock.recvfrom(70_000)[0])
        except socket.timeout:
            pass
    return got


def test_reordered_datagrams_are_overtaken_and_duplicates_arrive_twice():
    tx, rx = udp_pair(NetFaults(spec("reorder[heartbeat]=1,dup[checkpoint_ack]=1"), "coordinator"))
    try:
        tx.sendto(HB, rx.getsockname())
        tx.sendto(ACK, rx.getsockname())
        assert drain(rx, 0.6) == [ACK, ACK, HB]
    finally:
        tx.close()
        rx.close()


def test_a_partition_drops_both_directions_then_heals():
    faults = NetFaults(spec(partitions=("mapper-0@0+0.4",)), "mapper-0", incarnation=0)
    tx, rx = udp_pair(faults)
    try:
        tx.sendto(HB, rx.getsockname())
        assert drain(rx, 0.2) == []
        assert rx.sendto(HB, tx.getsockname()) == len(HB) and faults.counts["cut"] >= 2
        time.sleep(0.25)  # the window is a time span: nothing to wait on but the clock
        tx.sendto(HB, rx.getsockname())
        assert drain(rx, 0.2) == [HB]
    finally:
        tx.close()
        rx.close()
    assert NetFaults(spec(partitions=("mapper-0@0+5",)), "mapper-0", incarnation=1).cut_until() is None


def test_tcp_reads_stall_until_the_partition_heals():
    faults = NetFaults(spec(partitions=("reducer-0@0+0.5",)), "reducer-0")
    a, b = socket.socketpair()
    try:
        a.sendall(b"x")
        t0 = time.monotonic()
        assert faults.reader(b, threading.Event()).read(1) == b"x"
        assert time.monotonic() - t0 >= 0.45
    finally:
        a.close()
        b.close()

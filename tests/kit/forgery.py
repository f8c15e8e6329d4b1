"""What an attacker on the same machine can do to a running Lab 2 job, for
tests/test_attacks.py: the published wire format (v1, and v2 under a key of
its choosing), the ports (`ps`, /proc/net), and -- for the tests that play a
stronger attacker who somehow holds the job key -- the key itself, read the
way only the job's owner (or root) can, from the coordinator's environment.

    start_job(cwd, data, throttle) -> Job      a job on fixed ports, all workers up
    Job.key(), Job.port_of(wid), Job.udp_port(wid), Job.alive(), Job.finish() -> record (exit 0, exact table)
    v1(body) / sealed(key, msg, dst, dst_inc, inc, seq)    frames
    tcp_attack(port, frames, read_challenge=...)           one connection
    Capture(ports)                                          genuine datagrams off the loopback (root)
"""
from __future__ import annotations

import json
import socket
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import psutil
from support import (
    assert_same_table,
    read_output,
    read_record,
    serial,
    start_client,
    stop_client,
    tagged_processes,
    wait_until,
    write_config,
)

import message as m
from wordcount import procs
from wordcount.ids import all_names
from wordcount.record import RunRecord
from wordcount.stream import auth

HOST = "127.0.0.1"
# Short timers so a test job lasts a few seconds and checkpoints often.
TIMERS = {"heartbeat_interval_s": 0.1, "heartbeat_timeout_s": 2.0, "resend_timeout_s": 0.3,
          "checkpoint_interval_s": 0.25}


def v1(body: dict) -> bytes:
    """A frame of the old, unauthenticated format: length + version 1 + JSON."""
    payload = b"\x01" + json.dumps(body).encode()
    return struct.pack("!I", len(payload)) + payload


def v1_of(msg: m.Message) -> bytes:
    return v1(m.to_body(msg))


def sealed(key: auth.Key, msg: m.Message, dst: str, dst_inc: int = 0, inc: int = 0, seq: int = 10**9,
           view: dict | None = None) -> bytes:
    """A v2 frame under `key` with a chosen sequence number."""
    sealer = auth.Sealer(key, inc)
    sealer._seq = seq - 1
    return sealer.seal(msg, dst, dst_inc, view)


def wrong_key() -> auth.Key:
    return auth.Key(b"\x5a" * 32)


def send_udp(port: int, *frames: bytes, sock: socket.socket | None = None) -> None:
    own = sock or socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for frame in frames:
            own.sendto(frame, (HOST, port))
    finally:
        if sock is None:
            own.close()


def tcp_attack(port: int, frames: list[bytes], read_challenge: bool = True,
               hello: Callable[[bytes, int], bytes] | None = None) -> bytes:
    """Connect to a reducer, optionally answer its challenge with `hello(nonce,
    incarnation)`, send `frames`, and return what came back before it closed on us."""
    with socket.create_connection((HOST, port), timeout=10) as conn:
        got = b""
        if read_challenge or hello:
            with conn.makefile("rb") as stream:
                nonce, inc = auth.read_challenge(stream)
            if hello:
                conn.sendall(hello(nonce, inc))
        try:
            for frame in frames:
                conn.sendall(frame)
            conn.shutdown(socket.SHUT_WR)
            while chunk := conn.recv(4096):
                got += chunk
        except OSError:  # it closed on us (reset, or already gone), as it should
            pass
        return got


@dataclass
class Job:
    """A running `client.py stream` on known ports."""

    proc: Any
    cwd: Path
    data: Path
    cport: int
    rports: list[int]
    mappers: int
    reducers: int
    stdout: str = ""  # what the client printed, once finish() has reaped it

    def workers(self) -> list[str]:
        return all_names(self.mappers, self.reducers)

    def process(self, wid: str) -> psutil.Process | None:
        for p in tagged_processes(cmd_contains=wid):
            try:
                argv = p.cmdline()
            except psutil.Error:
                continue
            if "--id" in argv and argv[argv.index("--id") + 1] == wid:
                return p
        return None

    def port_of(self, wid: str, timeout: float = 30) -> int:
        """`wid`'s UDP port, waiting while it has none: on a loaded machine a worker
        may be between incarnations (declared hung, being restarted) for a moment."""
        return wait_until(lambda: self.udp_port(wid), timeout, f"{wid}'s UDP port")

    def udp_port(self, wid: str) -> int | None:
        p = self.process(wid)
        try:
            ports = [c.laddr.port for c in p.net_connections(kind="udp4")] if p else []
        except psutil.Error:
            return None
        return ports[0] if ports else None

    def key(self) -> auth.Key:
        """The job key, as only its owner can read it: from the coordinator's environment."""
        coordinator = wait_until(lambda: tagged_processes(cmd_contains="--spec"), 30, "the coordinator")[0]
        return auth.Key.from_env(coordinator.environ())

    def alive(self) -> bool:
        return self.proc.poll() is None

    def finish(self, timeout: float = 90) -> RunRecord:
        """The job must exit 0 with exactly the serial count; returns its run record
        (what it printed is then in `self.stdout`)."""
        out, err = stop_client(self.proc, timeout=timeout)
        assert self.proc.returncode == 0, f"exit {self.proc.returncode}\n{out}\n{err}"
        table = read_output(self.cwd / "wordcount.tsv")
        assert not any(w.startswith("PWNED") for w in table), "a forged word made it into the table"
        assert_same_table(serial(self.data), table)
        self.stdout = out
        return read_record(self.cwd / "record.json")


def start_job(cwd: Path, data: Path, throttle: float, mappers: int = 2, reducers: int = 2,
              **stream: Any) -> Job:
    """Start a job on fixed ports; return once every worker is up (has its UDP socket)."""
    rports = [procs.free_port() for _ in range(reducers)]
    cport = procs.free_port(kind=socket.SOCK_DGRAM)
    write_config(cwd, stream={**TIMERS, "reducer_ports": rports, "coordinator_port": cport, **stream})
    proc = start_client(["stream", "--data", data, "--record", cwd / "record.json", "--throttle", throttle,
                         "--mappers", mappers, "--reducers", reducers], cwd=cwd)
    job = Job(proc, cwd, data, cport, rports, mappers, reducers)
    wait_until(lambda: not job.alive() or all(job.udp_port(w) for w in job.workers()), 30, "every worker up")
    assert job.alive(), "the job ended before the attack could start; give it more data or --throttle"
    return job


class Capture:
    """Genuine datagrams to `ports`, sniffed off the loopback with a packet socket
    (needs CAP_NET_RAW: root). `frames` fills in the background until `stop()`."""

    def __init__(self, ports: set[int]) -> None:
        self.ports = ports
        self.frames: list[tuple[int, bytes]] = []  # (destination port, UDP payload)
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
        self.sock.bind(("lo", 0))
        self.sock.settimeout(0.2)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                packet, _ = self.sock.recvfrom(70_000)
            except socket.timeout:
                continue
            ip = packet[14:]
            if len(ip) < 28 or ip[9] != 17:  # not UDP
                continue
            udp = ip[(ip[0] & 0x0F) * 4:]
            dport = struct.unpack("!H", udp[2:4])[0]
            if dport in self.ports:
                self.frames.append((dport, udp[8:]))

    def stop(self) -> list[tuple[int, bytes]]:
        self.stopping.set()
        self.thread.join(5)
        self.sock.close()
        return list(dict.fromkeys(self.frames))  # a loopback packet is seen going out and coming in

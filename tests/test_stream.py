"""The streaming job (Lab 2) end to end without injected crashes: real
processes, sockets and Redis. Properties (every run's complete table equals the serial count):

* 2 mappers x 2 reducers are exact with periodic checkpoints and a frame far
  larger than any datagram; each reducer takes each checkpoint once, and only
  the final checkpoints are kept;
* without periodic checkpoints only the final one is taken;
* the normalize tokenizer and other topologies are exact;
* the status line shows the phase and the workers, the summary names the table;
* ports in use and bad flags are one-line errors;
* --help documents the flags;
* malformed frames and datagrams from outside are dropped and the job stays exact;
* Ctrl-C stops every process;
* a swapped part (--part) is the one that runs.

The crash tests in test_stream_crash.py use the helpers defined here.
"""
from __future__ import annotations

import json
import re
import signal
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

import pytest
from kit.run import Finished
from support import (
    assert_same_table,
    describe,
    make_corpus,
    read_output,
    read_record,
    run_client,
    serial,
    start_client,
    started_parts,
    stop_client,
    tagged_processes,
    wait_until,
    write_config,
)

import message as m
from wordcount import procs
from wordcount.ids import all_names
from wordcount.record import RunRecord
from wordcount.stream.launch import port_taken

pytestmark = [pytest.mark.stream, pytest.mark.timeout(90)]

# Short timers so each failure costs well under a second.
STREAM_TEST = {"heartbeat_interval_s": 0.1, "heartbeat_timeout_s": 1.5, "resend_timeout_s": 0.3,
               "checkpoint_interval_s": 0.25}


@dataclass
class StreamRun:
    result: Finished
    record: RunRecord  # empty (every field None) for a run expected to fail
    run_path: Path
    output: Path

    def log(self, pattern: str = "*.log") -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted((self.run_path / "logs").glob(pattern)))

    def causes(self) -> list[tuple[str, str]]:
        return [(r["killed"], r["cause"]) for r in self.record.recoveries]


def make_small_corpus(tmp_path: Path) -> Path:
    """About 400 KB in 44 files: many small files, a few CSVs."""
    return make_corpus(tmp_path / "corpus", n_files=40, seed=3, words_per_file=1500, csv_files=4)


@pytest.fixture
def small_corpus(tmp_path) -> Path:
    return make_small_corpus(tmp_path)


def run_stream(cwd: Path, data: Path, *args: object, timeout: float = 80, ok: bool = True,
               batch: dict | None = None, **stream: object) -> StreamRun:
    """`client.py stream` with the test timers (and `stream` settings on top);
    checks the exit status and, when it succeeded, that the complete table
    equals the serial count. `batch` settings are written too (Lab 1's, which
    this job must ignore)."""
    write_config(cwd, stream={**STREAM_TEST, **stream}, batch=batch or {})
    record_path = cwd / "record.json"
    result = run_client(["stream", "--data", data, "--record", record_path, *map(str, args)], cwd=cwd,
                        timeout=timeout)
    if not ok:
        assert result.returncode != 0, describe(result)
        run_dirs = sorted((cwd / ".wc-run").iterdir(), key=lambda p: p.stat().st_mtime)
        return StreamRun(result, RunRecord(), run_dirs[-1], cwd / "wordcount.tsv")
    assert result.returncode == 0, describe(result)
    record = read_record(record_path)
    run = StreamRun(result, record, Path(str(record.run_path)), cwd / "wordcount.tsv")
    tokenizer = next((str(a) for i, a in enumerate(args) if i and args[i - 1] == "--tokenizer"), "split")
    assert_same_table(serial(data, tokenizer=tokenizer), read_output(run.output))
    return run


def trace_times(run: StreamRun) -> dict[str, float]:
    """When the client filled the streams and when each part got its go ("spawn" events)."""
    times: dict[str, float] = {}
    for line in Path(str(run.record.trace)).read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        if event["ev"] == "enqueued" and event["proc"] == "client":
            times["enqueued"] = event["t"]
        elif event["ev"] == "spawn":
            times.setdefault(f"go {event['target']}", event["t"])
    return times


def assert_only_final_checkpoints(run: StreamRun) -> None:
    """Older checkpoints are cleaned up; the final one of each worker stays."""
    final = run.record.final_checkpoint_id
    names = sorted(p.name for p in (run.run_path / "checkpoints").iterdir())
    workers = all_names(run.record.mappers, run.record.reducers)
    assert names == sorted(f"{w}.{final:08d}.ckpt" for w in workers)


# -- no failures ----------------------------------------------------------------------------------
def test_no_failure_2x2_exact_with_checkpoints_and_a_large_frame(tmp_run, small_corpus):
    # one file whose counts for one reducer are far larger than any fixed frame or datagram
    (small_corpus / "wide.txt").write_text(" ".join(f"w{i}" for i in range(40_000)), encoding="utf-8")
    run = run_stream(tmp_run, small_corpus, "--verify", "--throttle", 0.02)
    rec = run.record
    assert (rec.kind, rec.mappers, rec.reducers) == ("stream", 2, 2)
    assert rec.recoveries == [] and rec.recovery_id == 0 and rec.kills == 0
    assert rec.checkpoints_completed >= 2 and rec.elapsed_s > 0
    assert "verify: OK" in run.result.stdout and "counted" in run.result.stdout
    assert_only_final_checkpoints(run)
    # each reducer took each checkpoint exactly once (no two channel threads snapshotting)
    for r in ("reducer-0", "reducer-1"):
        taken = re.findall(r"checkpoint (\d+) taken", run.log(f"{r}.0.log"))
        assert len(taken) == len(set(taken)) == rec.checkpoints_completed
    assert "rejected" not in run.log() and rec.rejected == {} and rec.auth is True
    # the coordinator ran (starting the reducers) while the streams were filled; no mapper before that
    times = trace_times(run)
    assert times["go coordinator"] < times["enqueued"] < min(times["go mapper-0"], times["go mapper-1"]), times


def test_without_periodic_checkpoints_only_the_final_one_is_taken(tmp_run, small_corpus):
    run = run_stream(tmp_run, small_corpus, "--checkpoint-interval", 0)
    assert run.record.checkpoints_completed == 1 and run.record.checkpoint_interval_s == 0


def test_normalize_tokenizer_with_3_mappers_2_reducers_is_exact(tmp_run, small_corpus):
    run = run_stream(tmp_run, small_corpus, "--tokenizer", "normalize", "--mappers", 3, "--reducers", 2)
    assert (run.record.mappers, run.record.reducers) == (3, 2)


def test_status_line_shows_phase_and_workers_and_summary_names_the_table(tmp_run, small_corpus):
    run = run_stream(tmp_run, small_corpus, "--mappers", 1, "--reducers", 1, "--log-level", "INFO")
    assert re.search(r"phase CP, last completed checkpoint 0, recovery id 0; m0:\w+ r0:\w+", run.result.stderr)
    assert "phase EXITING" in run.result.stderr
    assert f"full table: {run.output}" in run.result.stdout


# -- bad input -------------------------------------------------------------------------------------
def one_line_error(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), describe(result)
    return lines[0]


def test_ports_in_use_are_one_line_errors(tmp_run, small_corpus):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        tcp.bind(("127.0.0.1", 0))
        tcp.listen()
        udp.bind(("127.0.0.1", 0))
        busy_tcp, busy_udp = tcp.getsockname()[1], udp.getsockname()[1]
        write_config(tmp_run, stream={"reducer_ports": [0, busy_tcp]})
        line = one_line_error(run_client(["stream", "--data", small_corpus], cwd=tmp_run, timeout=30))
        assert line == f"error: stream.reducer_ports[1] {busy_tcp} is in use; pick another or use 0"
        write_config(tmp_run, stream={"coordinator_port": busy_udp})
        line = one_line_error(run_client(["stream", "--data", small_corpus], cwd=tmp_run, timeout=30))
        assert line == f"error: stream.coordinator_port {busy_udp} is in use; pick another or use 0"
    write_config(tmp_run, stream={"reducer_ports": [7001]})
    assert "one per reducer" in one_line_error(run_client(["stream", "--data", small_corpus], cwd=tmp_run))


@pytest.mark.parametrize("args, message", [
    (["--mappers", "0"], "stream.mappers"),
    (["--checkpoint-interval", "-1"], "stream.checkpoint_interval_s"),
    (["--kill", "mapper-2", "--every", "1"], "not a worker"),
    (["--kill", "any"], "--every"),
    (["--crash", "reducer-0:nowhere"], "bad --crash"),
])
def test_bad_flags_are_one_line_errors(tmp_run, small_corpus, args, message):
    result = run_client(["stream", "--data", small_corpus, *args], cwd=tmp_run, timeout=30)
    assert message in one_line_error(result)


def test_help_documents_the_flags():
    result = run_client(["stream", "--help"], timeout=30)
    for flag in ("--mappers", "--reducers", "--checkpoint-interval", "--kill", "--every", "--seed",
                 "--kill-count", "--crash", "--verify", "--record", "mapper-0", "after_first_marker"):
        assert flag in result.stdout


# -- hostile network input ---------------------------------------------------------------------------
def v1(body: dict) -> bytes:
    """A frame of the old, unauthenticated format (version 1)."""
    payload = b"\x01" + json.dumps(body).encode()
    return struct.pack("!I", len(payload)) + payload


def bad_tcp_inputs() -> list[tuple[bytes, str]]:
    """(bytes sent on a fresh connection, the reason the reducer counts). A
    bad frame closes its connection, so each gets its own."""
    def frame(payload: bytes) -> bytes:
        return struct.pack("!I", len(payload)) + payload
    body = {"type": "word_count", "sender": "mapper-0", "recovery_id": 0, "entry_id": "1-0", "counts": {"evil": 1000}}
    return [
        (v1(body), "version"),  # the v1 format: no key, no tag
        (frame(b"\x01{not json"), "version"),
        (frame(b"\x02" + json.dumps(body).encode() + bytes(32)), "bad_mac"),  # v2 shape, no key
        (v1(body)[:-4], "unauthenticated_tcp"),  # truncated, then the connection closes
        (b"", "unauthenticated_tcp"),  # connects, says nothing
        (struct.pack("!I", m.MAX_TCP_FRAME + 1) + b"x" * 64, "oversized"),  # absurd length
    ]


def bad_datagrams() -> list[tuple[bytes, str]]:
    done = v1({"type": "done", "sender": "mapper-0", "recovery_id": 0, "position": 10**6})
    return [(b"", "malformed"), (b"\x00\x00\x00\x09\x01{", "malformed"), (done[:-1], "malformed"),
            (done + b"!", "malformed"), (b"\x00\x00\x00\x03\x07{}", "version"), (done, "version"),
            (v1({"type": "heartbeat", "sender": "reducer-0", "incarnation": 99}), "version")]


def test_malformed_frames_are_dropped_counted_and_the_job_stays_exact(tmp_run, small_corpus):
    ports = [procs.free_port(), procs.free_port()]
    cport = procs.free_port(kind=socket.SOCK_DGRAM)
    write_config(tmp_run, stream={**STREAM_TEST, "reducer_ports": ports, "coordinator_port": cport})
    proc = start_client(["stream", "--data", small_corpus, "--record", tmp_run / "record.json",
                         "--throttle", "0.05"], cwd=tmp_run)
    expected: dict[str, dict[str, int]] = {"coordinator": {}, "reducer-0": {}}
    # reducers listen only once the coordinator's UDP socket is bound
    wait_until(lambda: _probe(ports[0]), timeout=30, what="reducer-0 to listen")
    expected["reducer-0"]["unauthenticated_tcp"] = 1  # the probe itself
    for data, reason in bad_tcp_inputs():
        with socket.create_connection(("127.0.0.1", ports[0]), timeout=5) as conn:
            conn.sendall(data)
            conn.shutdown(socket.SHUT_WR)
            assert conn.recv(1024)  # the challenge; then the reducer closes on us
            try:
                assert conn.recv(1024) == b""
            except ConnectionResetError:  # it closed with our bytes unread
                pass
        expected["reducer-0"][reason] = expected["reducer-0"].get(reason, 0) + 1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        for datagram, reason in bad_datagrams():
            udp.sendto(datagram, ("127.0.0.1", cport))
            expected["coordinator"][reason] = expected["coordinator"].get(reason, 0) + 1
    out, err = stop_client(proc, timeout=80)
    assert proc.returncode == 0, f"{out}\n{err}"
    record = read_record(tmp_run / "record.json")
    assert_same_table(serial(small_corpus), read_output(tmp_run / "wordcount.tsv"))
    assert record.rejected_by == expected, record.rejected_by
    total = sum(sum(c.values()) for c in expected.values())
    assert f"rejected {total} frames: " in out
    assert record.recoveries == []  # nothing crashed
    for port in ports:  # nothing of ours still holds the ports
        assert not port_taken("127.0.0.1", port)


def _probe(port: int) -> bool:
    conn = _connect(port)
    if conn is None:
        return False
    conn.close()
    return True


def _connect(port: int) -> socket.socket | None:
    try:
        return socket.create_connection(("127.0.0.1", port), timeout=1)
    except OSError:
        return None


# -- no orphans ----------------------------------------------------------------------------------------
def test_interrupt_stops_every_process(tmp_run, small_corpus):
    write_config(tmp_run, stream=STREAM_TEST)
    proc = start_client(["stream", "--data", small_corpus, "--throttle", "0.2"], cwd=tmp_run)
    wait_until(lambda: len(started_parts(tmp_run, "mapper-")) == 2, timeout=30, what="both mappers at work")
    proc.send_signal(signal.SIGINT)
    out, err = stop_client(proc, timeout=30)
    assert proc.returncode == 130, f"{out}\n{err}"
    assert "interrupted" in err
    wait_until(lambda: not tagged_processes(), timeout=5, what="every process to be gone")


# -- swapped parts ------------------------------------------------------------------------------------
@pytest.mark.parametrize("part", ["mapper", "reducer", "coordinator"])
def test_a_swapped_part_is_the_one_that_runs(tmp_run, tmp_path, small_corpus, part):
    """--part NAME=DIR runs DIR as `python -m NAME` (docs/lab2.md, "Swapping a part")."""
    import shutil

    copy = tmp_path / "student" / part
    shutil.copytree(Path(__file__).resolve().parent.parent / part, copy,
                    ignore=shutil.ignore_patterns("__pycache__"))
    with open(copy / "__init__.py", "a", encoding="utf-8") as fh:  # runs on `python -m NAME`
        fh.write('\nimport sys\nprint("STUDENT PART", file=sys.stderr)\n')
    run = run_stream(tmp_run, small_corpus, "--part", f"{part}={copy}")
    logs = run.log("coordinator.log" if part == "coordinator" else f"{part}-0.0.log")
    assert "STUDENT PART" in logs
    if part == "coordinator":  # the course contract: its go once the streams are filled, `--spec` alone
        times = trace_times(run)
        assert times["enqueued"] < times["go coordinator"], times


def test_a_swapped_package_named_like_the_reference_runs_from_the_repository_root(tmp_run, tmp_path,
                                                                                    small_corpus):
    """A student's `mapper/` run from the repository root is the student's, not ours: the child is
    started with `-P` (or its 3.10 equivalent), so the cwd, which holds our `mapper/`, is not put
    in front of the part's own directory on sys.path."""
    import shutil

    repo = Path(__file__).resolve().parent.parent
    copy = tmp_path / "student" / "mapper"
    shutil.copytree(repo / "mapper", copy, ignore=shutil.ignore_patterns("__pycache__"))
    with open(copy / "__init__.py", "a", encoding="utf-8") as fh:
        fh.write('\nimport sys\nprint(f"STUDENT MAPPER {__file__}", file=sys.stderr)\n')
    config = write_config(tmp_run, stream=STREAM_TEST)
    result = run_client(["stream", "--config", config, "--data", small_corpus, "--part", f"mapper={copy}"],
                        cwd=repo, timeout=80)
    assert result.returncode == 0, describe(result)
    assert_same_table(serial(small_corpus), read_output(tmp_run / "wordcount.tsv"))
    run_path = next(p for p in (tmp_run / ".wc-run").iterdir() if (p / "logs").is_dir())
    logs = (run_path / "logs" / "mapper-0.0.log").read_text(encoding="utf-8", errors="replace")
    assert f"STUDENT MAPPER {copy / '__init__.py'}" in logs, logs[-2000:]

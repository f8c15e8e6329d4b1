"""The run trace (wordcount/trace.py) and its timeline (wordcount/timeline). Properties:

* an event is one JSON line with time, pid and label; concurrent appends from
  several processes give whole lines; the reader skips malformed and
  half-written lines;
* without WC_TRACE an event is a no-op, the environment alone configures a
  process, an unwritable trace never raises, and an oversized event is cut to
  one short line;
* the timeline sorts lanes (supervisors first, workers naturally, Redis last)
  and models a Lab 2 trace; the HTML is self-contained and the PNG is drawn;
  without matplotlib the PNG is a one-line error and the HTML is still
  written; a missing or empty trace is a one-line error;
* the trace of a real Lab 1 run shows the crashes and the steals that repair
  them, and Redis kills as outages.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from support import (
    REPO,
    describe,
    job_dirs,
    make_corpus,
    read_record,
    run_client,
    write_config,
)

from wordcount import timeline, trace
from wordcount.errors import UserError

HAVE_MPL = importlib.util.find_spec("matplotlib") is not None


@pytest.fixture
def traced(tmp_path, monkeypatch):
    """This process traces to a fresh file as 'tester'; back to the environment after."""
    monkeypatch.delenv(trace.ENV_PATH, raising=False)
    monkeypatch.delenv(trace.ENV_PROC, raising=False)
    path = tmp_path / "trace.jsonl"
    trace.setup(path, "tester")
    yield path
    trace.reset()


def raw_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


# -- writer and reader ---------------------------------------------------------------
def test_event_is_one_json_line_with_time_pid_and_label(traced):
    trace.event("commit", ids=["1-0", "1-1"], odd=object(), t="ignored", kind="a field too")
    trace.event("exit", code=0)
    lines = raw_lines(traced)
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert list(first)[:4] == ["t", "pid", "proc", "ev"]
    assert (first["pid"], first["proc"], first["ev"]) == (os.getpid(), "tester", "commit")
    assert (first["ids"], first["kind"]) == (["1-0", "1-1"], "a field too")
    assert first["t"] != "ignored" and isinstance(first["odd"], str)
    assert trace.read_trace(traced)[1]["ev"] == "exit"
    assert trace.path() == str(traced)
    assert trace.child_env("w3") == {trace.ENV_PATH: str(traced), trace.ENV_PROC: "w3"}


WRITER = """
import sys
from wordcount import trace
for i in range(int(sys.argv[1])):
    trace.event("x", i=i, pad="y" * int(sys.argv[2]))
"""


def test_concurrent_appends_from_several_processes_give_whole_lines(traced):
    """Lines near the size limit, from 4 processes at once: none torn or interleaved."""
    per_proc, pad = 300, trace.MAX_LINE - 200
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(per_proc), str(pad)],
                                env={**env, **trace.child_env(f"p{k}")}) for k in range(4)]
    assert [p.wait(60) for p in writers] == [0] * 4
    lines = raw_lines(traced)
    assert len(lines) == 4 * per_proc
    events = [json.loads(line) for line in lines]  # every line whole
    by_proc = defaultdict(list)
    for e in events:
        by_proc[e["proc"]].append(e)
    assert sorted(by_proc) == ["p0", "p1", "p2", "p3"]
    for evs in by_proc.values():
        assert [e["i"] for e in evs] == list(range(per_proc))
        assert [e["t"] for e in evs] == sorted(e["t"] for e in evs)


def test_reader_skips_malformed_and_half_written_lines(tmp_path):
    path = tmp_path / "t.jsonl"
    good = '{"t":1.0,"pid":1,"proc":"a","ev":"start"}'
    glued = '{"t":2.0,"pid":2,"pr' + '{"t":3.0,"pid":3,"proc":"b","ev":"commit"}'
    path.write_bytes("\n".join([good, "", "not json", "[1,2]", '{"ev":"no time"}', '{"t":1,"ev":[1]}', glued,
                                '{"t":4.0,"pid":1,"proc":"a","ev":"ex']).encode() + b"\xff")
    assert [(e["t"], e["ev"]) for e in trace.read_trace(path)] == [(1.0, "start"), (3.0, "commit")]


def test_without_wc_trace_event_is_a_no_op(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(trace.ENV_PATH, raising=False)
    trace.reset()
    for _ in range(1000):
        trace.event("commit", ids=["1-0"])
    assert not trace.enabled() and trace.path() is None and trace.child_env("w0") == {}
    assert list(tmp_path.iterdir()) == []


def test_env_alone_configures_a_process(tmp_path, monkeypatch):
    path = tmp_path / "t.jsonl"
    monkeypatch.setenv(trace.ENV_PATH, str(path))
    monkeypatch.setenv(trace.ENV_PROC, "mapper-1")
    trace.reset()
    try:
        trace.event("start")
    finally:
        trace.reset()
    assert trace.read_trace(path)[0]["proc"] == "mapper-1"


@pytest.mark.parametrize("where", ["no-such-dir/t.jsonl", ".", "/dev/full"])
def test_an_unwritable_trace_never_raises(tmp_path, monkeypatch, caplog, where):
    monkeypatch.delenv(trace.ENV_PATH, raising=False)
    target = where if where.startswith("/") else str(tmp_path / where)
    trace.setup(target, "w0")
    try:
        for _ in range(3):
            trace.event("commit", ids=["1-0"])
        assert not trace.enabled()
    finally:
        trace.reset()
    assert len([r for r in caplog.records if "tracing to" in r.getMessage()]) == 1


def test_an_oversized_event_is_cut_to_one_short_line(traced):
    trace.event("commit", ids=["1-0"] * 2000, note="kept")
    (line,) = raw_lines(traced)
    assert len(line) < trace.MAX_LINE
    event = json.loads(line)
    assert (event["note"], event["truncated"], "ids" in event) == ("kept", ["ids"], False)


# -- timeline model and rendering ---------------------------------------------------
def lab2_events() -> list[dict]:
    """A hand-made Lab 2 run: a checkpoint, a mapper killed and recovered, an unfinished checkpoint."""
    def ev(t, proc, name, /, pid=1, **fields):
        return {"t": 100 + t, "pid": pid, "proc": proc, "ev": name, **fields}

    return [
        ev(0.0, "coordinator", "run_start", job="abc", lab=2),
        ev(0.1, "coordinator", "spawn", target="mapper-0", target_pid=10),
        ev(0.1, "coordinator", "spawn", target="reducer-0", target_pid=20),
        ev(0.2, "mapper-0", "start", pid=10), ev(0.2, "reducer-0", "start", pid=20),
        ev(1.0, "coordinator", "checkpoint_sent", cp=1),
        ev(1.1, "mapper-0", "snapshot_written", pid=10, cp=1),
        ev(1.1, "mapper-0", "marker_forwarded", pid=10, cp=1),
        ev(1.2, "reducer-0", "channel_blocked", pid=20, cp=1, channel="mapper-0"),
        ev(1.4, "reducer-0", "snapshot_written", pid=20, cp=1),
        ev(1.5, "coordinator", "ack", cp=1, kind="snapshot", src="reducer-0"),
        ev(1.6, "coordinator", "checkpoint_complete", cp=1),
        ev(2.0, "coordinator", "kill", target="mapper-0", target_pid=10),
        ev(2.5, "coordinator", "heartbeat_missed", target="mapper-0"),
        ev(2.6, "coordinator", "recovery_started", rid=1, cp=1),
        ev(2.7, "coordinator", "worker_restarted", target="mapper-0", target_pid=11),
        ev(3.0, "coordinator", "recovery_done", rid=1),
        ev(3.5, "coordinator", "checkpoint_sent", cp=2),
        ev(4.0, "coordinator", "run_end"),
    ]


def test_lanes_sort_supervisors_first_workers_naturally_redis_last():
    names = ["redis", "w10", "w2", "reducer-0", "client", "w0.1", "coordinator", "w0", "mapper-1"]
    assert sorted(names, key=timeline.lane_key) == [
        "client", "coordinator", "mapper-1", "reducer-0", "w0", "w0.1", "w2", "w10", "redis"]


def test_timeline_model_of_a_lab2_trace():
    tl = timeline.build(lab2_events())
    assert tl.lanes == ["coordinator", "mapper-0", "reducer-0"]
    assert tl.title == "job abc: lab 2, 4.0 s, 3 processes"
    assert "1 kill" in tl.summary and "1 recovery" in tl.summary and "1 checkpoint" in tl.summary
    spans = {(s.lane, s.kind, s.complete): (round(s.start, 3), round(s.end, 3)) for s in tl.spans}
    assert spans == {
        ("coordinator", "checkpoint", True): (1.0, 1.6),
        ("coordinator", "checkpoint", False): (3.5, 4.0),  # never completed: drawn to the end
        ("coordinator", "recovery", True): (2.6, 3.0),
        ("reducer-0", "alignment", True): (1.2, 1.4),
        ("mapper-0", "outage", True): (2.0, 2.7),
    }
    mapper = sorted((s.pid, round(s.start, 3), round(s.end, 3), s.ended)
                    for s in tl.segments if s.lane == "mapper-0")
    assert mapper == [(10, 0.1, 2.0, True), (11, 2.7, 4.0, False)]
    styles = {(m.lane, m.style) for m in tl.markers}
    assert {("mapper-0", "kill"), ("mapper-0", "heartbeat_missed"), ("coordinator", "ack"),
            ("mapper-0", "worker_restarted")} <= styles


def test_html_is_self_contained_and_png_is_drawn(tmp_path):
    tl = timeline.build(lab2_events())
    timeline.render_html(tl, tmp_path / "t.html")
    page = (tmp_path / "t.html").read_text(encoding="utf-8")
    assert "<svg" in page and "job abc" in page and "recovery rid=1" in page
    assert "<script" not in page and not re.search(r"""\s(src|href)\s*=\s*["']""", page)
    if HAVE_MPL:
        timeline.render_png(tl, tmp_path / "t.png")
        assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_png_without_matplotlib_is_a_one_line_error_and_html_still_written(tmp_path, monkeypatch):
    path = tmp_path / "trace.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in lab2_events()) + "\n", encoding="utf-8")
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(UserError, match="pip install matplotlib"):
        timeline.render(path, tmp_path / "t.png", tmp_path / "t.html")
    assert (tmp_path / "t.html").exists() and not (tmp_path / "t.png").exists()


@pytest.mark.parametrize("content", [None, "", "garbage\n"])
def test_timeline_command_rejects_a_missing_or_empty_trace_in_one_line(tmp_path, content):
    path = tmp_path / "trace.jsonl"
    if content is not None:
        path.write_text(content)
    result = subprocess.run([sys.executable, "-m", "wordcount.timeline", str(path)], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr


# -- real Lab 1 runs ------------------------------------------------------------------
def run_traced(tmp_path: Path, *args: str, **settings) -> tuple[list[dict], Path]:
    """Run the batch job on a small corpus; return its trace events and the trace path."""
    corpus = make_corpus(tmp_path / "corpus", n_files=12, words_per_file=1500)
    cwd = tmp_path / "run"
    write_config(cwd, **settings)
    result = run_client(["--data", corpus, "--verify", *args], cwd=cwd, timeout=60)
    assert result.returncode == 0, describe(result)
    (job,) = job_dirs(cwd / ".wc-run")
    path = job / "trace.jsonl"
    assert read_record(job / "run.json").trace == str(path)
    return trace.read_trace(path), path


def assert_timestamps_monotonic_per_process(events: list[dict]) -> None:
    by_pid = defaultdict(list)
    for e in events:  # file order is each process's write order
        by_pid[e["pid"]].append(e["t"])
    for pid, ts in by_pid.items():
        assert ts == sorted(ts), f"pid {pid} went back in time"


@pytest.mark.crash
def test_lab1_trace_shows_crashes_and_the_steals_that_repair_them(tmp_path):
    """Every worker crashes on its first read: their entries must be stolen by replacements."""
    crash = [a for w in ("w0", "w1", "w2") for a in ("--crash", f"{w}:after_read")]
    events, path = run_traced(tmp_path, *crash)
    assert_timestamps_monotonic_per_process(events)
    spawned = {e["target"]: e["target_pid"] for e in events if e["ev"] == "spawn" and e["target"] != "redis"}
    assert {"w0", "w1", "w2", "w0.1"} <= set(spawned)
    started = {(e["proc"], e["pid"]) for e in events if e["ev"] == "start"}
    assert started == set(spawned.items()), "every worker traces its own start under its label"
    assert {e["proc"] for e in events} == {"client", *spawned}

    crashes = [e for e in events if e["ev"] == "crash"]
    assert sorted(e["proc"] for e in crashes) == ["w0", "w1", "w2"]
    assert {e["point"] for e in crashes} == {"after_read"}
    for c in crashes:
        exits = [e for e in events if e["ev"] == "exit" and e.get("target") == c["proc"]]
        assert [e["status"] for e in exits] == [75], "the supervisor saw the crash exit"
        read = {i for e in events if e["ev"] == "read" and e["pid"] == c["pid"] for i in e["ids"]}
        stolen = {i for e in events if e["ev"] == "steal" and e["t"] > c["t"] for i in e["ids"]}
        committed = {i for e in events if e["ev"] == "commit" and e["pid"] != c["pid"] for i in e["ids"]}
        assert read and read <= stolen & committed, f"{c['proc']} read {read}; stolen {stolen}"
    assert [e["ev"] for e in events if e["proc"] == "client"][-2:] == ["job_done", "run_end"]

    outputs = ["--html", str(tmp_path / "t.html")] + (["--png", str(tmp_path / "t.png")] if HAVE_MPL else [])
    result = subprocess.run([sys.executable, "-m", "wordcount.timeline", str(path), *outputs], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "crash after_read" in (tmp_path / "t.html").read_text(encoding="utf-8")
    if HAVE_MPL:
        assert (tmp_path / "t.png").stat().st_size > 10_000


@pytest.mark.crash
def test_lab1_trace_shows_redis_kills_as_outages(tmp_path):
    """Stalling workers keep work pending while the client kills Redis.

    Every commit stalls 0.6 s (less than the claim timeout: no steals), so the
    first kill, 0.4 s in, always finds work pending; a snapshot every tick
    keeps the rollbacks small.
    """
    slow = [a for w in ("w0", "w1", "w2") for a in ("--crash", f"{w}:slow=0.6")]
    events, _ = run_traced(tmp_path, *slow, "--kill-redis-every", "0.4",
                           batch={"bgsave_interval_s": 0.05, "batch_files": 4})
    assert_timestamps_monotonic_per_process(events)
    redis = [e for e in events if e.get("target") == "redis" and e["ev"] in ("spawn", "kill", "redis_restart")]
    assert [e["ev"] for e in redis[:3]] == ["spawn", "kill", "redis_restart"]
    assert redis[0]["target_pid"] == redis[1]["target_pid"] != redis[2]["target_pid"]
    restarts = [e for e in events if e["ev"] == "redis_restart"]
    assert [e["restarts"] for e in restarts] == list(range(1, len(restarts) + 1))
    tl = timeline.build(events)
    assert tl.lanes[0] == "client" and tl.lanes[-1] == "redis"
    outages = [s for s in tl.spans if s.kind == "outage"]
    assert len(outages) == len(restarts) and all(s.lane == "redis" and s.band for s in outages)
    assert len([s for s in tl.segments if s.lane == "redis"]) == len(restarts) + 1

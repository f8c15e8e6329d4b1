"""The fault vocabulary of both labs (wordcount/faults/, wordcount/ids.py):
the grammar WORKER:POINT[@K][=ACTION] for every part, one-line errors, the
deprecated Lab 1 spellings (one warning, same fault), what an in-process
fault does on which arrival, worker ids, and seeded plans pinned to what the
seeds meant before the faults package was unified."""
from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys

import psutil
import pytest
from support import REPO, run_client, wait_until, write_config

from wordcount.config import load_settings
from wordcount.errors import UserError
from wordcount.faults import netspec, points
from wordcount.faults.flags import parse_batch_crashes, parse_stream_crashes
from wordcount.faults.plans import batch_schedule, stream_schedule
from wordcount.faults.process import CRASH_EXIT, ProcessFaults
from wordcount.faults.schedules import KillSchedule, KillSpec
from wordcount.faults.spec import FaultSpec, batch_crash_setting, parse_batch, parse_stream
from wordcount.ids import WorkerId, all_ids, all_names


# -- the grammar -----------------------------------------------------------------------------------
@pytest.mark.parametrize("text, spec", [
    ("w0:after_read", FaultSpec("w0", "after_read")),
    ("w1.2:mid_count@2", FaultSpec("w1.2", "mid_count", 2)),
    ("w0:after_commit@3=exit", FaultSpec("w0", "after_commit", 3)),
    ("w1:before_commit=slow:4", FaultSpec("w1", "before_commit", 1, "slow", 4.0)),
    ("w1:before_commit@2=slow:0.25", FaultSpec("w1", "before_commit", 2, "slow", 0.25)),
    ("w2:after_read=slow:0", FaultSpec("w2", "after_read", 1, "slow", 0.0)),
])
def test_lab1_specs_parse(text, spec):
    assert parse_batch(text) == spec
    assert parse_batch(str(spec)) == spec  # the canonical spelling reads back the same


@pytest.mark.parametrize("text, spec", [
    ("mapper-0:before_forward=hang", FaultSpec("mapper-0", "before_forward", 1, "hang")),
    ("mapper-1:after_first_file@3=slow:0.5", FaultSpec("mapper-1", "after_first_file", 3, "slow", 0.5)),
    ("mapper-0:on_final", FaultSpec("mapper-0", "on_final")),
    ("reducer-1:after_first_marker@2", FaultSpec("reducer-1", "after_first_marker", 2)),
    ("reducer-0:on_recovery=exit", FaultSpec("reducer-0", "on_recovery")),
    ("reducer-0:lose_completed=hang", FaultSpec("reducer-0", "lose_completed", 1, "hang")),
])
def test_lab2_specs_parse(text, spec):
    assert parse_stream(text, 2, 2) == spec
    assert parse_stream(str(spec), 2, 2) == spec


def test_every_point_takes_every_action_its_part_allows():
    for part, worker in ((points.LAB1_WORKER, "w0"), (points.MAPPER, "mapper-0"), (points.REDUCER, "reducer-0")):
        for point in part.points:
            for action in ("exit", "hang", "slow:1"):
                allowed = action.split(":")[0] in part.actions_at(point)
                parse = parse_batch if part is points.LAB1_WORKER else (lambda t: parse_stream(t, 1, 1))
                if allowed:
                    assert parse(f"{worker}:{point}={action}").action == action.split(":")[0]
                else:
                    with pytest.raises(UserError, match="not available"):
                        parse(f"{worker}:{point}={action}")


@pytest.mark.parametrize("text, says", [
    ("w0", "no WORKER"), (":after_read", "no WORKER"), ("w0:", "not a worker crash point"),
    ("w0:explode", "'explode' is not a worker crash point"), ("w0:after_read@0", "K >= 1"),
    ("w0:after_read@x", "K >= 1"), ("w0:after_read@", "K >= 1"), ("w0:after_read=boom", "not an action"),
    ("w0:after_read=slow", "not an action"), ("w0:after_read=slow:abc", "number >= 0"),
    ("w0:after_read=slow:-1", "number >= 0"), ("w0:after_read=slow:nan", "number >= 0"),
    ("w0:after_read=hang", "hang is not available"), ("w0:slow=abc", "number >= 0"),
    ("w0:slow@2", "not a worker crash point"), ("w0:after_read=exit:1", "not an action"),
])
def test_bad_lab1_specs_are_one_line_errors_naming_spec_and_choices(text, says):
    with pytest.raises(UserError) as err:
        parse_batch(text)
    message = str(err.value)
    assert "\n" not in message and f"bad --crash {text!r}" in message and says in message, message
    assert "after_read, mid_count, before_commit, after_commit" in message and "slow:SECONDS" in message


@pytest.mark.parametrize("text, says", [
    ("mapper-2:on_final", "'mapper-2' is not a worker"), ("mapper-0", "no WORKER"),
    ("reducer-1:before_forward", "not a reducer crash point"), ("mapper-0:on_final=slow", "not an action"),
    ("mapper-01:on_final", "not a worker"), ("w0:after_read", "not a worker"),
    ("reducer-0:corrupt_completed=slow:1", "slow is not available"),
])
def test_bad_lab2_specs_are_one_line_errors_naming_spec_and_choices(text, says):
    with pytest.raises(UserError) as err:
        parse_stream(text, 2, 2)
    message = str(err.value)
    assert "\n" not in message and f"bad --crash {text!r}" in message and says in message, message
    assert "mapper-0, mapper-1, reducer-0, reducer-1" in message and "exit, hang, slow:SECONDS" in message


def test_flags_give_the_crash_setting_as_written():
    assert parse_batch_crashes(["w0:after_read", "w1:slow=4"]) == {"w0": "after_read", "w1": "slow=4"}
    assert parse_stream_crashes(["mapper-1:on_final@2=hang"], 2, 1) == {"mapper-1": "on_final@2=hang"}


def test_config_takes_the_same_grammar(tmp_path, caplog):
    config = write_config(tmp_path, batch={"crash": {"w1": "before_commit@2=slow:0.5", "w0": "mid_count"}})
    with caplog.at_level(logging.WARNING):
        settings = load_settings(str(config))
    assert settings.batch.crash == {"w1": "before_commit@2=slow:0.5", "w0": "mid_count"}
    assert not caplog.records
    bad = write_config(tmp_path, filename="bad.json", batch={"crash": {"w0": "mid_count=hang"}})
    with pytest.raises(UserError, match="setting 'batch.crash' entry 'w0'.*hang is not available"):
        load_settings(str(bad))


# -- deprecated spellings -----------------------------------------------------------------------------
@pytest.mark.parametrize("old, slow_s, new", [
    ("w1:slow=4", 5.0, "w1:before_commit=slow:4"),
    ("w1:slow=0.05", 5.0, "w1:before_commit=slow:0.05"),
    ("w1:slow", 5.0, "w1:before_commit=slow:5"),
    ("w1:slow", 0.3, "w1:before_commit=slow:0.3"),
])
def test_old_spelling_is_the_same_fault_with_one_warning(old, slow_s, new, caplog):
    assert parse_batch(old, slow_s) == parse_batch(new)
    name, point_spec = old.split(":", 1)
    with caplog.at_level(logging.WARNING):
        setting = batch_crash_setting({name: point_spec, "w0": "after_read"}, slow_s)
    assert setting == {name: new.split(":", 1)[1], "w0": "after_read"}
    assert [r.getMessage() for r in caplog.records] == [f"deprecated: {old!r} — write {new!r}"]
    assert batch_crash_setting(setting, slow_s) == setting  # the rewritten setting warns no more


def test_old_spelling_from_the_command_line_warns_once(tmp_path):
    write_config(tmp_path, batch={"slow_s": 2.5})
    result = run_client(["--crash", "w1:slow=4", "--crash", "w2:slow", "--crash", "w0:after_read",
                         "--data", str(tmp_path / "missing")], cwd=tmp_path, timeout=30)
    lines = [ln for ln in result.stderr.splitlines() if "deprecated" in ln]
    assert lines == ["WARNING wordcount.faults.spec: deprecated: 'w1:slow=4' — write 'w1:before_commit=slow:4'",
                     "WARNING wordcount.faults.spec: deprecated: 'w2:slow' — write 'w2:before_commit=slow:2.5'"], \
        result.stderr
    assert "Traceback" not in result.stderr and result.returncode == 2


# -- what a process does ---------------------------------------------------------------------------
def arrivals(spec: str, point: str, n: int) -> list[bool]:
    faults = ProcessFaults(parse_batch(spec))
    return [faults.due(point) for _ in range(n)]


def test_exit_and_hang_act_on_the_kth_arrival_only_slow_from_it_on():
    assert arrivals("w0:after_commit@2", "after_commit", 4) == [False, True, False, False]
    assert arrivals("w0:after_commit", "after_commit", 3) == [True, False, False]
    assert arrivals("w0:before_commit@2=slow:1", "before_commit", 4) == [False, True, True, True]
    assert arrivals("w0:before_commit", "after_commit", 3) == [False, False, False]
    faults = ProcessFaults(parse_stream("mapper-0:on_final@2=hang", 1, 1))
    assert [faults.due("before_forward"), faults.due("on_final"), faults.due("on_final")] == [False, False, True]
    assert ProcessFaults(None).due("after_read") is False and ProcessFaults(None).point is None


def test_slow_stalls_for_its_seconds(monkeypatch):
    stalls: list[float] = []
    monkeypatch.setattr("wordcount.faults.process.time.sleep", stalls.append)
    faults = ProcessFaults.for_batch("w1", "slow=0.7", slow_s=5.0)
    for _ in range(3):
        faults.at("before_commit")
    assert stalls == [0.7, 0.7, 0.7] and faults.doing == "stalling 0.7s"


def run_fault(point_spec: str, point: str) -> subprocess.Popen:
    code = ("from wordcount.faults.process import ProcessFaults; from wordcount.ids import WorkerId; "
            f"f = ProcessFaults.for_stream(WorkerId.parse('mapper-0'), {point_spec!r}); "
            f"f.at({point!r}); f.at({point!r}); print('survived')")
    return subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_exit_is_the_distinctive_status_and_hang_stops_the_process():
    proc = run_fault("on_final@2", "on_final")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == CRASH_EXIT and "survived" not in out, err
    assert "crash point on_final reached (arrival 2): exiting now" in err
    proc = run_fault("on_final=hang", "on_final")
    try:
        wait_until(lambda: psutil.Process(proc.pid).status() == psutil.STATUS_STOPPED, 30, "the hang")
    finally:
        proc.kill()
        proc.communicate(timeout=30)


# -- worker ids --------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, kind, index", [("mapper-0", "mapper", 0), ("reducer-12", "reducer", 12)])
def test_worker_id_round_trip(text, kind, index):
    wid = WorkerId.parse(text)
    assert (wid.kind, wid.index, str(wid)) == (kind, index, text)
    assert wid.is_mapper == (kind == "mapper") and wid.short == f"{kind[0]}{index}"


@pytest.mark.parametrize("text", ["mapper-01", "mapper--1", "mapper-", "Mapper-0", "worker-0", "mapper-1.0",
                                  " mapper-0", "mapper-0 ", "mapper-١", "coordinator", "", "mapper0"])
def test_worker_id_rejects(text):
    with pytest.raises(ValueError, match="not a worker id"):
        WorkerId.parse(text)
    assert WorkerId.try_parse(text) is None


def test_all_ids_lists_mappers_first():
    assert all_names(2, 1) == ["mapper-0", "mapper-1", "reducer-0"]
    assert [w.is_mapper for w in all_ids(1, 2)] == [True, False, False]
    with pytest.raises(ValueError):
        WorkerId("combiner", 0)


# -- seeded plans: the same as before the refactoring --------------------------------------------
def test_batch_plans_are_pinned():
    assert batch_schedule(11, 4, 40, True).to_json() == {
        "seed": 11, "crashes": {"w2": "after_commit@2", "w3": "mid_count@1"}, "redis_kills_after": [31, 33]}
    assert batch_schedule(42, 3, 20, False).to_json() == {
        "seed": 42, "crashes": {"w2": "after_read@1"}, "redis_kills_after": []}
    grid = [batch_schedule(s, w, f, k).to_json() for s in range(100) for w in (1, 2, 4, 7) for f in (1, 3, 40)
            for k in (True, False)]
    assert digest(grid) == "e6f06a58e38c3fa59bda3888870268a66ea935b9e98a62b3367be12ab3763abe"


def test_stream_plans_are_pinned():
    assert stream_schedule(0, 2, 2, 44).describe() == \
        "reducer-0@completed:1, reducer-1@recovery:1, reducer-1@completed:3"
    assert stream_schedule(35, 3, 2, 30).describe() == \
        "mapper-1@checkpoint:3, mapper-2@completed:4, mapper-0@recovery:2"
    grid = [stream_schedule(s, m, r, f).to_json() for s in range(100) for m in (1, 2, 3) for r in (1, 2)
            for f in (1, 10, 44)]
    assert digest(grid) == "d5727868b564ce370ba34ad3103931e791f0f09494b84f1c90265417f52e66dd"


def test_timed_victims_are_pinned():
    def victims(who: str) -> list[list[str]]:
        schedule = KillSchedule(KillSpec(who, 1.0, seed=7), all_names(2, 3), 0.0)
        return [schedule.victims() for _ in range(6)]
    assert victims("any") == [["reducer-0"], ["mapper-1"], ["reducer-1"], ["mapper-0"], ["mapper-0"], ["reducer-2"]]
    assert victims("reducer") == [["reducer-1"], ["reducer-0"], ["reducer-1"], ["reducer-2"], ["reducer-0"],
                                  ["reducer-0"]]


def digest(docs: list) -> str:
    return hashlib.sha256(json.dumps(docs).encode()).hexdigest()


def test_network_fault_kinds_are_the_ones_the_net_grammar_parses():
    assert points.NETWORK_KINDS == ("loss", "dup", "reorder", "delay", "partition")
    assert netspec.FAULTS == points.DATAGRAM_FAULTS and netspec.ROLES == points.NET_WHO

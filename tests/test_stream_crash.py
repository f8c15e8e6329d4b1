"""The streaming job under real failures. Properties (every successful run's
complete table equals the serial count; run_stream checks that):

* a mapper, a reducer, both, or every worker killed (once, repeatedly, on a
  seeded --kill schedule) is recovered exactly; reducers rebind their fixed ports;
* with checkpoint interval 0 a recovery rolls back to the beginning, still exactly;
* other topologies recover exactly;
* counts a mapper sends after its marker are held out of the snapshot (a rollback
  to it stays exact);
* a worker killed while a checkpoint is being aligned, during a recovery, or
  during the last checkpoint (deterministic --crash points) is recovered exactly;
* a hung worker is found by its missed heartbeats and replaced;
* a damaged checkpoint fails the job with a clear reason.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_stream import assert_only_final_checkpoints, make_small_corpus, run_stream

from wordcount import procs
from wordcount.ids import WorkerId
from wordcount.stream.launch import port_taken

pytestmark = [pytest.mark.stream, pytest.mark.crash, pytest.mark.timeout(100)]


@pytest.fixture
def small_corpus(tmp_path):
    return make_small_corpus(tmp_path)


def assert_killed(run, expected: list[str]) -> None:
    """The schedule really fired (the job did not end first) and each failure was recovered from."""
    killed = [r["killed"] for r in run.record.recoveries if r["cause"] == "killed"]
    assert sorted(killed) == sorted(expected), run.record.recoveries
    assert all(r["resume_after_s"] is not None for r in run.record.recoveries), run.record.recoveries
    assert run.record.recovery_id >= 1
    assert_only_final_checkpoints(run)


# -- scheduled kills ---------------------------------------------------------------------------------
def test_mapper_killed_once_is_recovered_exactly(tmp_run, small_corpus):
    run = run_stream(tmp_run, small_corpus, "--throttle", 0.08, "--kill", "mapper-0", "--every", 1,
                     "--kill-count", 1)
    assert_killed(run, ["mapper-0"])


def test_reducer_killed_once_is_recovered_exactly(tmp_run, small_corpus):
    run = run_stream(tmp_run, small_corpus, "--throttle", 0.08, "--kill", "reducer-1", "--every", 1,
                     "--kill-count", 1)
    assert_killed(run, ["reducer-1"])


def test_mappers_killed_repeatedly_are_recovered_exactly(tmp_run, small_corpus):
    run = run_stream(tmp_run, small_corpus, "--throttle", 0.12, "--kill", "mapper", "--every", 0.5,
                     "--kill-count", 4, "--seed", 11)
    assert len(run.record.recoveries) >= 4 and run.record.kills == 4
    assert all(WorkerId.parse(w).is_mapper for w, cause in run.causes() if cause == "killed")


def test_reducers_killed_repeatedly_rebind_their_fixed_ports(tmp_run, small_corpus):
    ports = [procs.free_port(), procs.free_port()]
    run = run_stream(tmp_run, small_corpus, "--throttle", 0.12, "--kill", "reducer", "--every", 0.5,
                     "--kill-count", 4, "--seed", 5, reducer_ports=ports)
    assert run.record.kills == 4
    assert all(not WorkerId.parse(w).is_mapper for w, cause in run.causes() if cause == "killed")
    assert "Address already in use" not in run.log()
    assert not any(port_taken("127.0.0.1", p) for p in ports)
    # the same fixed ports again at once: connections left in TIME_WAIT must not block them
    run_stream(tmp_run, small_corpus, "--mappers", 1, reducer_ports=ports)


def test_mapper_and_reducer_killed_together_are_recovered_exactly(tmp_run, small_corpus):
    run = run_stream(tmp_run, small_corpus, "--throttle", 0.12, "--kill", "mapper-1,reducer-0", "--every", 1,
                     "--kill-count", 2)
    assert_killed(run, ["mapper-1", "reducer-0"] * 2)


def test_all_workers_killed_every_few_seconds_are_recovered_exactly(tmp_run, small_corpus):
    run = run_stream(tmp_run, small_corpus, "--throttle", 0.2, "--kill", "all", "--every", 1.5,
                     "--kill-count", 2)
    assert_killed(run, ["mapper-0", "mapper-1", "reducer-0", "reducer-1"] * 2)


def test_checkpoint_interval_zero_rolls_back_to_the_beginning_exactly(tmp_run, small_corpus):
    run = run_stream(tmp_run, small_corpus, "--throttle", 0.08, "--checkpoint-interval", 0,
                     "--kill", "any", "--every", 0.8, "--kill-count", 1)
    assert run.record.kills == 1 and run.record.checkpoints_completed == 1


@pytest.mark.parametrize("mappers, reducers, who, throttle", [(1, 1, "reducer-0", 0.05), (3, 2, "any", 0.12)])
def test_other_topologies_recover_exactly_from_kills(tmp_run, small_corpus, mappers, reducers, who, throttle):
    # throttle: each mapper's share of the 44 files lasts well past the second kill
    run = run_stream(tmp_run, small_corpus, "--mappers", mappers, "--reducers", reducers, "--throttle", throttle,
                     "--kill", who, "--every", 0.8, "--kill-count", 2, "--seed", 2)
    assert run.record.kills == 2 and (run.record.mappers, run.record.reducers) == (mappers, reducers)


# -- crash points at the delicate moments ---------------------------------------------------------------
@pytest.mark.parametrize("crash", [
    "reducer-0:after_first_marker",  # one channel blocked, waiting for the other marker
    "mapper-1:before_forward",  # cursor saved, marker never forwarded: reducers stay aligning
    "mapper-0:after_forward",  # markers forwarded, ack never sent
    "reducer-1:after_snapshot",  # snapshot written, ack never sent
])
def test_worker_killed_while_a_checkpoint_is_aligned_is_recovered_exactly(tmp_run, small_corpus, crash):
    run = run_stream(tmp_run, small_corpus, "--throttle", 0.03, "--crash", crash)
    assert run.causes() == [(crash.split(":")[0], "crash")]


def test_counts_sent_after_a_marker_are_held_out_of_the_snapshot(tmp_run, small_corpus):
    """mapper-1 stalls before forwarding each marker while mapper-0, past its own, keeps
    sending: the reducers read on but hold those counts out of the snapshot (their logs
    count them), and after mapper-0 is killed the rollback to such a checkpoint ends exact."""
    run = run_stream(tmp_run, small_corpus, "--throttle", 0.04, "--crash", "mapper-1:before_forward=slow:0.6",
                     "--kill", "mapper-0", "--every", 1.5, "--kill-count", 1)
    assert_killed(run, ["mapper-0"])
    logs = sorted((Path(run.record.run_path) / "logs").glob("reducer-*.log"))
    held = [int(n) for log in logs for n in re.findall(r"distinct words, (\d+) messages held", log.read_text())]
    assert held and max(held) > 0, held


def test_workers_killed_during_recovery_are_recovered_exactly(tmp_run, small_corpus):
    """mapper-0 dies; during the recovery reducer-1 dies (RECOVER_REDUCER), then
    mapper-1 dies (RECOVER_MAPPER): each failure starts a newer recovery."""
    run = run_stream(tmp_run, small_corpus, "--throttle", 0.03, "--crash", "mapper-0:after_first_file",
                     "--crash", "reducer-1:on_recovery", "--crash", "mapper-1:on_recovery")
    assert sorted(run.causes()) == [("mapper-0", "crash"), ("mapper-1", "crash"), ("reducer-1", "crash")]
    assert run.record.recovery_id == 3


def test_worker_killed_during_the_last_checkpoint_is_recovered_exactly(tmp_run, small_corpus):
    run = run_stream(tmp_run, small_corpus, "--throttle", 0.02, "--crash", "mapper-0:on_final")
    assert run.causes() == [("mapper-0", "crash")]
    assert run.log("coordinator.log").count("-> LAST_CP") == 2


def test_hung_worker_is_found_by_missed_heartbeats_and_replaced(tmp_run, small_corpus):
    run = run_stream(tmp_run, small_corpus, "--throttle", 0.03, "--crash", "reducer-1:after_first_marker=hang")
    assert run.causes() == [("reducer-1", "hung")]


def test_max_restarts_per_worker_counts_each_worker_apart(tmp_run, small_corpus):
    """Two workers hang once each: one restart per worker brings both back (a
    total of one would not), and Lab 1's total limit, 0 here, plays no part."""
    run = run_stream(tmp_run, small_corpus, "--throttle", 0.03, "--crash", "reducer-1:after_first_marker=hang",
                     "--crash", "mapper-0:after_first_file=hang", max_restarts_per_worker=1,
                     batch={"max_replacement_workers": 0})
    assert sorted(run.causes()) == [("mapper-0", "hung"), ("reducer-1", "hung")]


def test_max_restarts_per_worker_zero_fails_at_the_first_hang(tmp_run, small_corpus):
    run = run_stream(tmp_run, small_corpus, "--throttle", 0.03, "--crash", "reducer-1:after_first_marker=hang",
                     ok=False, max_restarts_per_worker=0)
    assert run.result.returncode == 3
    assert "job failed: reducer-1 failed 1 times (hung)" in run.result.stderr
    assert "(stream.max_restarts_per_worker=0)" in run.result.stderr
    assert "Traceback" not in run.result.stderr


@pytest.mark.parametrize("crash, problem", [("corrupt_completed", "is corrupt"), ("lose_completed", "is missing")])
def test_damaged_checkpoint_fails_the_job_clearly(tmp_run, small_corpus, crash, problem):
    run = run_stream(tmp_run, small_corpus, "--throttle", 0.03, "--crash", f"reducer-0:{crash}", ok=False)
    assert run.result.returncode == 3
    assert "job failed: reducer-0 could not roll back to checkpoint" in run.result.stderr
    assert problem in run.result.stderr
    assert not run.output.exists()

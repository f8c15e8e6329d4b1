"""Replayable chaos for the batch job (--chaos SEED). Properties:

* a crash point fires on the K-th arrival, not the first;
* the same seed gives the same crashes at the same logical points (the K-th
  arrival at a crash point, Redis killed after the k-th committed file), and
  every chaos run is exact;
* a failed run prints the command that replays it.
"""
from __future__ import annotations

import pytest
from support import (
    assert_same_table,
    make_corpus,
    run_batch,
    serial,
    worker_log,
    write_config,
)

from wordcount.trace import read_trace

pytestmark = pytest.mark.crash


def crash_events(tmp_run) -> list[tuple[str, str, int]]:
    """(worker, point, arrival) of every injected crash, in the run's trace."""
    traces = list((tmp_run / ".wc-run").glob("*/trace.jsonl"))
    assert len(traces) == 1, traces
    return sorted((e["proc"], e["point"], e["nth"]) for e in read_trace(traces[0]) if e["ev"] == "crash")


def test_crash_fires_on_the_kth_arrival(tmp_run, corpus):
    # One worker: it surely reaches its 2nd commit; a replacement finishes the job.
    write_config(tmp_run, batch={"workers": 1, "batch_files": 1, "crash": {"w0": "after_commit@2"}})
    _, table, record = run_batch(tmp_run, corpus)
    assert_same_table(serial(corpus), table)
    assert record.replacements == 1, record
    log = worker_log(tmp_run, "w0")
    assert log.count(" committed ") == 2, log
    assert "crash point after_commit reached (arrival 2)" in log


@pytest.mark.timeout(180)
def test_same_seed_same_crashes_and_exact(tmp_path):
    data = make_corpus(tmp_path / "data", n_files=40, seed=5, words_per_file=60000)
    expected = serial(data)
    seen = []
    for run in ("a", "b"):
        cwd = tmp_path / run
        write_config(cwd, batch={"workers": 4, "batch_files": 1, "bgsave_interval_s": 0.2})
        _, table, record = run_batch(cwd, data, "--chaos", "11", timeout=150)
        assert_same_table(expected, table)
        seen.append((record.chaos, crash_events(cwd)))
    (plan_a, crashes_a), (plan_b, crashes_b) = seen
    assert plan_a == plan_b and plan_a["crashes"], plan_a
    assert crashes_a == crashes_b, (crashes_a, crashes_b)
    assert {w for w, _, _ in crashes_a} == set(plan_a["crashes"])


def test_failed_run_prints_its_replay_command(tmp_run, corpus):
    write_config(tmp_run, batch={"workers": 1, "max_replacement_workers": 0})
    result, _, _ = run_batch(tmp_run, corpus, "--chaos", "3", "--crash", "w0:after_read",
                             expect_exit=3)
    assert "replay:" in result.stderr and "--chaos 3" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr

"""Lab 1 worker failures. Properties (every run gives the exact table and leaves no process behind):

* a worker dying at any crash point is repaired by stealing its pending entry,
  with no replacement workers;
* when every worker dies, replacements finish the job;
* workers SIGKILLed from outside at random moments do not change the table;
* a slow worker's entry is stolen and its late commit is dropped (no double count);
* Ctrl-C mid-job stops every process and frees Redis's port within seconds;
* a SIGKILLed client takes its children with it;
* --verify is OK after a crash.

No process outlives its test (the autouse fixture in conftest.py checks that).
"""
from __future__ import annotations

import random
import signal
import time

import psutil
import pytest
from support import (
    assert_same_table,
    describe,
    job_dirs,
    listening_ports,
    make_corpus,
    port_listening,
    read_output,
    read_record,
    run_batch,
    serial,
    slow_workers,
    start_client,
    stop_client,
    tagged_processes,
    wait_until,
    worker_log,
    write_config,
)

from wordcount.faults.points import WORKER_POINTS

pytestmark = pytest.mark.crash


@pytest.mark.parametrize("point", WORKER_POINTS)
def test_worker_dying_at_a_crash_point_is_repaired_by_stealing(tmp_run, corpus, point):
    # w1 and w2 stall a little per batch so w0 surely gets an entry before they finish.
    write_config(tmp_run, batch={"workers": 3, "batch_files": 2, "crash": {**slow_workers(3, 0.2, 1), "w0": point}})
    result, table, record = run_batch(tmp_run, corpus)
    assert_same_table(serial(corpus), table)
    log = worker_log(tmp_run, "w0")
    assert f"crash point {point} reached" in log, log
    if point == "after_commit":
        assert "committed" in log
    else:  # the dead worker's entries were pending: someone must have stolen them
        assert record.stolen >= 1, record
    assert record.replacements == 0


def test_every_worker_crashes_and_replacements_finish(tmp_run, corpus):
    write_config(tmp_run, batch={"workers": 2, "batch_files": 2, "crash": {"w0": "before_commit", "w1": "mid_count"}})
    result, table, record = run_batch(tmp_run, corpus)
    assert_same_table(serial(corpus), table)
    assert record.replacements >= 2, record
    logs = job_dirs(tmp_run / ".wc-run")[0] / "logs"
    assert {"w0.1.log", "w1.1.log"} <= {p.name for p in logs.iterdir()}
    assert "all workers exited with work pending" in result.stderr


@pytest.mark.parametrize("limit", [3, 4])
def test_max_replacement_workers_is_a_total_over_the_job(tmp_run, corpus, limit):
    """Two generations of two workers die on their first read, so finishing takes
    4 replacement workers in all (2 per generation). A limit of 3 stops the job
    before the second generation, though no worker name was replaced more than
    once: the limit counts workers over the whole job, not per worker. Lab 2's
    per-worker limit, 0 here, plays no part in Lab 1."""
    crash = dict.fromkeys(("w0", "w1", "w0.1", "w1.1"), "after_read")
    write_config(tmp_run, batch={"workers": 2, "batch_files": 1, "max_replacement_workers": limit, "crash": crash},
                 stream={"max_restarts_per_worker": 0})
    result, table, record = run_batch(tmp_run, corpus, expect_exit=0 if limit >= 4 else 3)
    if limit >= 4:
        assert_same_table(serial(corpus), table)
        assert record.replacements == 4, record
    else:
        assert "not done after 2 replacements (batch.max_replacement_workers=3)" in result.stderr, describe(result)
        assert "Traceback" not in result.stderr


def test_workers_sigkilled_at_random_moments_leave_the_table_exact(tmp_run, tmp_path):
    rng = random.Random(20240601)
    data = make_corpus(tmp_path / "kill", n_files=24, words_per_file=4000, seed=11)
    # Every generation stalls 0.15 s per file, so the job lasts long enough to be shot at.
    write_config(tmp_run, batch={"workers": 3, "batch_files": 1, "claim_timeout_s": 0.5, "max_replacement_workers": 15,
                                 "crash": slow_workers(3, 0.15)})
    record_path = tmp_run / "record.json"
    proc = start_client(["--config", "config.json", "--data", str(data), "--record", str(record_path)],
                        cwd=tmp_run)
    killed = []
    deadline = time.monotonic() + 60
    while proc.poll() is None and len(killed) < 6 and time.monotonic() < deadline:
        time.sleep(rng.uniform(0.1, 0.5))  # a random moment, not a wait for an event
        victims = sorted(tagged_processes(cmd_contains="worker.py"), key=lambda p: p.pid)
        if victims:
            victim = rng.choice(victims)
            try:
                victim.send_signal(signal.SIGKILL)
                killed.append(" ".join(victim.cmdline()[2:4]))
            except psutil.Error:
                pass
    out, err = stop_client(proc, timeout=60)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out}\n{err}"
    assert len(killed) >= 2, f"job ended before the test could kill workers: {killed}"
    table = read_output(tmp_run / "wordcount.tsv")
    assert_same_table(serial(data), table)


def test_slow_worker_entry_is_stolen_and_its_late_commit_dropped(tmp_run, corpus):
    # w1 also stalls a little per file, so w0 surely reads an entry before w1 finishes them all.
    # (The deprecated 'slow=S' spelling on purpose: it must behave as before_commit=slow:S.)
    write_config(tmp_run, batch={"workers": 2, "batch_files": 1, "claim_timeout_s": 0.5,
                                 "crash": {"w0": "slow=2.0", "w1": "slow=0.1"}})
    result, table, record = run_batch(tmp_run, corpus)
    assert_same_table(serial(corpus), table)  # no double count
    assert record.stolen > 0, record
    log = worker_log(tmp_run, "w0")
    assert "slow worker: stalling" in log, log
    assert "no longer pending" in log, log


def _wait_for_stall(cwd) -> None:
    def stalled():
        jobs = job_dirs(cwd / ".wc-run")
        log = jobs[0] / "logs" / "w0.log" if jobs else None
        return log is not None and log.exists() and "slow worker: stalling" in log.read_text()
    wait_until(stalled, 30, "worker w0 to read an entry and stall")


def test_ctrl_c_mid_job_stops_everything_quickly(tmp_run, corpus):
    write_config(tmp_run, batch={"workers": 2, "crash": slow_workers(2, 60, 1)})
    proc = start_client(["--config", "config.json", "--data", str(corpus)], cwd=tmp_run)
    _wait_for_stall(tmp_run)
    ours = tagged_processes()
    ports = [port for _, port in listening_ports(ours)]
    assert ports, "the private Redis should be listening"
    assert len([p for p in ours if "worker.py" in " ".join(p.cmdline())]) == 2
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = stop_client(proc, timeout=15)
    elapsed = time.monotonic() - t0
    assert proc.returncode != 0, out
    assert elapsed < 5, f"took {elapsed:.1f}s to stop after Ctrl-C"
    assert "Traceback" not in err, err
    assert "interrupted" in err
    wait_until(lambda: not tagged_processes(), 2, "every process of the job to exit")
    assert not any(port_listening(p) for p in ports), f"port(s) {ports} still listening"


def test_client_sigkilled_takes_its_children_with_it(tmp_run, corpus):
    write_config(tmp_run, batch={"workers": 2, "crash": slow_workers(2, 60, 1)})
    proc = start_client(["--config", "config.json", "--data", str(corpus)], cwd=tmp_run)
    _wait_for_stall(tmp_run)
    children = [p for p in tagged_processes() if p.pid != proc.pid]
    assert len(children) >= 3, [p.cmdline() for p in children]  # Redis and two workers
    proc.kill()
    stop_client(proc, timeout=10)
    gone, alive = psutil.wait_procs(children, timeout=5)
    assert not alive, "children survived their parent: " + "; ".join(" ".join(p.cmdline()) for p in alive)


def test_verify_is_ok_after_a_crash(tmp_run, corpus):
    """--verify after a run with a crash: the client's own check agrees."""
    write_config(tmp_run, batch={"workers": 2, "crash": {"w1": "after_read"}})
    result, table, record = run_batch(tmp_run, corpus, "--verify")
    assert "verify: OK" in result.stdout, describe(result)
    assert read_record(tmp_run / "record.json").files == 15

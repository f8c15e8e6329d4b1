"""Everyday use, tidy runs: .wc-run keeps the last keep_runs finished runs,
`client.py clean` deletes finished ones, a live job's directory is never
touched, and a job on an external Redis leaves no keys behind for long."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import redis
from support import describe, job_dirs, run_batch, run_client, write_config

from wordcount.batch.jobstate import KEEP_KEYS_S
from wordcount.rundirs import RUN_LOCK

HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_CREAT | os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(120)
"""


def _old_runs(run_dir, names, grade=()) -> None:
    """Finished runs (and grading reports), oldest first, one second apart in mtime."""
    now = time.time()
    for i, name in enumerate([*names, *(f"grade/{g}" for g in grade)]):
        path = run_dir / name
        (path / "logs").mkdir(parents=True)
        (path / "logs" / "w0.log").write_text("x" * 1000)
        age = now - 1000 + i
        os.utime(path, (age, age))


def _hold(path) -> subprocess.Popen:
    """Another live process holding the lock of run directory `path`."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(path / RUN_LOCK)], stdout=subprocess.PIPE,
                              text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def _names(run_dir) -> set[str]:
    return {p.name for p in job_dirs(run_dir)} - {"grade"}


def test_job_start_keeps_the_last_keep_runs_and_never_a_live_one(tmp_run, corpus):
    run_dir = tmp_run / ".wc-run"
    _old_runs(run_dir, ["live0000", "aaaa0001", "aaaa0002", "aaaa0003", "aaaa0004"], grade=["g1", "g2", "g3"])
    holder = _hold(run_dir / "live0000")  # the oldest, but its job is still running
    try:
        write_config(tmp_run, keep_runs=2)
        _, _, record = run_batch(tmp_run, corpus)
        assert _names(run_dir) == {"live0000", "aaaa0003", "aaaa0004", record.job}
        assert {p.name for p in (run_dir / "grade").iterdir()} == {"g2", "g3"}
    finally:
        holder.kill()
        holder.wait()


def test_clean_deletes_finished_runs_only(tmp_run):
    run_dir = tmp_run / ".wc-run"
    _old_runs(run_dir, ["live0000", "aaaa0001", "aaaa0002", "aaaa0003"], grade=["g1"])
    (run_dir / "notes.txt").write_text("not a run")
    holder = _hold(run_dir / "live0000")
    try:
        kept = run_client(["clean", "--config", "config.json", "--keep", "1"], cwd=tmp_run, timeout=30)
        assert kept.returncode == 0 and "deleted 2 finished run directories" in kept.stdout, describe(kept)
        assert _names(run_dir) == {"live0000", "aaaa0003"}
        cleaned = run_client(["clean", "--config", "config.json"], cwd=tmp_run, timeout=30)
        assert cleaned.returncode == 0 and "deleted 2 finished" in cleaned.stdout, describe(cleaned)
        assert _names(run_dir) == {"live0000"} and (run_dir / "notes.txt").exists()
        assert not list((run_dir / "grade").iterdir())
    finally:
        holder.kill()
        holder.wait()
    assert run_client(["clean", "--config", "config.json"], cwd=tmp_run, timeout=30).returncode == 0
    assert not _names(run_dir), "a run whose job ended is finished"


def test_job_on_an_external_redis_leaves_no_keys_behind(tmp_run, corpus, redis_server):
    """Lab 1 keys expire after KEEP_KEYS_S (time to inspect the job); Lab 2's streams are deleted."""
    conn = redis.Redis.from_url(redis_server.url)
    try:
        _, _, record = run_batch(tmp_run, corpus, env={"REDIS_URL": redis_server.url})
        job_keys = conn.keys(f"wc:{record.job}:*")
        assert job_keys and all(0 < conn.ttl(k) <= KEEP_KEYS_S for k in job_keys), job_keys
        conn.flushall()
        result = run_client(["stream", "--config", "config.json", "--data", str(corpus)], cwd=tmp_run,
                            timeout=90, env={"REDIS_URL": redis_server.url})
        assert result.returncode == 0, describe(result)
        assert conn.keys("wc:*") == []
    finally:
        conn.close()

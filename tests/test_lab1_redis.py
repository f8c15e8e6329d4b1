"""Lab 1 and Redis. Properties:

* Redis SIGKILLed and restarted mid-job leaves the table exact, and each
  restart is reported;
* a Redis rollback that undoes the end of the job after the workers have left
  is redone by replacements that the replacement limit does not charge;
* the commit function is present after every restart (from the snapshot, or
  loaded again);
* no process busy-loops while Redis is down, and the job finishes when it is back;
* the test's private Redis is tracked as the test's process;
* the commit function applies each entry exactly once (a repeated commit changes nothing);
* "done" means every entry delivered and acknowledged (not XPENDING == 0 before any read);
* consumer names are unique per process;
* two jobs on one shared server do not mix their counts;
* --kill-redis-every refuses a server the client did not start.
"""
from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path

import pytest
import redis
from support import (
    assert_same_table,
    delivered_entries,
    describe,
    listening_ports,
    make_corpus,
    read_output,
    run_batch,
    serial,
    slow_workers,
    start_client,
    stop_client,
    tagged_processes,
    wait_until,
    write_config,
)

import myrds
from wordcount.batch import jobstate
from wordcount.inputs import InputFile
from wordcount.keys import COMMIT_FUNCTION, FUNCTION_LIBRARY, JobKeys
from wordcount.splits import split_inputs


def _conn(server) -> redis.Redis:
    return redis.Redis.from_url(server.url, decode_responses=True)


def _has_commit_function(conn: redis.Redis) -> bool:
    """FCALL the commit function with an empty batch (changes nothing but progress)."""
    k = JobKeys("fncheck")
    try:
        return conn.fcall(COMMIT_FUNCTION, 4, k.files, k.counts, k.progress, k.warnings, k.group, 0) == []
    except redis.ResponseError as exc:
        assert "not found" in str(exc).lower() or "function" in str(exc).lower(), exc
        return False


@pytest.mark.crash
def test_redis_sigkilled_and_restarted_mid_job_keeps_the_table_exact(tmp_run, tmp_path):
    data = make_corpus(tmp_path / "rk", n_files=12, words_per_file=3000, seed=21)
    # 0.5 s per file per worker makes the job last at least 3 s, several kill periods.
    write_config(tmp_run, batch={"workers": 2, "batch_files": 1, "bgsave_interval_s": 0.3, "claim_timeout_s": 1.0,
                                 "max_replacement_workers": 8, "crash": slow_workers(2, 0.5)})
    result, table, record = run_batch(tmp_run, data, "--kill-redis-every", "0.6", timeout=90)
    assert_same_table(serial(data), table)
    assert record.redis_restarts >= 2, record
    assert result.stderr.count("redis restarted") == record.redis_restarts


@pytest.mark.crash
@pytest.mark.timeout(120)
def test_rollback_after_the_workers_left_is_redone_without_charging_the_limit(tmp_run, tmp_path):
    # Kill Redis once every entry is committed, with no snapshot since the job
    # began: the restart rolls back to "nothing done", usually after the workers
    # saw the job finished and exited. A limit of 0 replacements means only
    # rollback-explained replacements (free) may finish the job.
    data = make_corpus(tmp_path / "rb", n_files=8, words_per_file=500, seed=23)
    write_config(tmp_run, batch={"workers": 2, "batch_files": 1, "bgsave_interval_s": 3600,
                                 "max_replacement_workers": 0})
    result, table, record = run_batch(tmp_run, data, "--kill-redis-at", "8", timeout=90)
    assert_same_table(serial(data), table)
    assert record.redis_restarts == 1, describe(result)


@pytest.mark.crash
def test_functions_present_after_every_restart(tmp_path):
    server, conn = myrds.start_private(str(tmp_path / "fn"))
    try:
        assert _has_commit_function(conn)
        conn.set("marker", "1")
        myrds.snapshot(conn)
        conn = server.restart()  # SIGKILL, same data dir: the RDB holds data and functions
        assert conn.get("marker") == b"1" and _has_commit_function(conn)
        server.crash()
        (tmp_path / "fn" / "redis" / "dump.rdb").unlink()
        conn = server.start()  # a fresh server without the old data: must load them itself
        assert conn.get("marker") is None and _has_commit_function(conn)
        conn.function_delete(FUNCTION_LIBRARY)
        conn = server.restart()  # the RDB has no library now: start() must load it again
        assert _has_commit_function(conn)
    finally:
        server.stop()


@pytest.mark.crash
def test_no_busy_loop_while_redis_is_down(tmp_run, tmp_path, redis_server):
    """Pitfall: retry loops spinning at 100% CPU while Redis is unreachable."""
    data = make_corpus(tmp_path / "down", n_files=16, words_per_file=1000, seed=31)
    write_config(tmp_run, batch={"workers": 2, "batch_files": 1, "crash": slow_workers(2, 0.2)})
    proc = start_client(["--config", "config.json", "--data", str(data)], cwd=tmp_run,
                        env={"REDIS_URL": redis_server.url})
    logs = lambda: [p.read_text() for p in (tmp_run / ".wc-run").glob("*/logs/w*.log")]  # noqa: E731
    wait_until(lambda: any("committed" in t for t in logs()), 30, "a first commit")
    redis_server.crash()
    wait_until(lambda: sum("Redis unavailable" in t for t in logs()) >= 2, 10, "both workers to see the outage")
    ours = [p for p in tagged_processes() if "python" in p.name()]
    assert len(ours) == 3, [p.cmdline() for p in ours]  # the client and two workers
    before = {p.pid: sum(p.cpu_times()[:2]) for p in ours}
    time.sleep(1.0)  # the measuring window
    busy = {" ".join(p.cmdline()[1:4]): sum(p.cpu_times()[:2]) - before[p.pid] for p in ours}
    redis_server.start()  # same port, password and data dir: back from the last snapshot
    out, err = stop_client(proc, timeout=60)
    assert proc.returncode == 0, f"{out}\n{err}"
    assert all(cpu < 0.3 for cpu in busy.values()), f"CPU seconds used in 1 s of outage: {busy}"
    assert_same_table(serial(data), read_output(tmp_run / "wordcount.tsv"))


def test_redis_fixture_server_is_tracked_as_ours(redis_server):
    ports = [port for _, port in listening_ports(tagged_processes())]
    assert redis_server.port in ports  # so a leaked server would fail the test


def _commit(conn, keys: JobKeys, entries: list[tuple[str, str]], words: dict[str, int] | list):
    """FCALL wc_commit; `words` as a dict (sent as pairs) or as the raw count arguments."""
    args: list = [keys.group, len(entries)]
    for eid, warn in entries:
        args += [eid, 10, warn]
    args += [a for w, n in words.items() for a in (w, n)] if isinstance(words, dict) else words
    return conn.fcall(COMMIT_FUNCTION, 4, keys.files, keys.counts, keys.progress, keys.warnings, *args)


def test_commit_function_applies_each_entry_exactly_once(redis_server):
    conn = _conn(redis_server)
    keys = JobKeys("unit1")
    ids = delivered_entries(conn, keys, 3)

    assert _commit(conn, keys, [(ids[0], "")], {"x": 2, "café": 1}) == []
    assert conn.hgetall(keys.counts) == {"x": "2", "café": "1"}
    # the same entry again (a slow worker after a thief): nothing changes
    assert _commit(conn, keys, [(ids[0], "")], {"x": 2, "café": 1}) == [ids[0]]
    # a batch with one gone entry changes nothing at all, and names the gone one
    assert _commit(conn, keys, [(ids[1], ""), (ids[0], "")], {"x": 5}) == [ids[0]]
    assert conn.hgetall(keys.counts) == {"x": "2", "café": "1"}
    assert conn.xpending(keys.files, keys.group)["pending"] == 2
    # an entry stolen by another consumer is still pending: whoever commits first wins
    conn.xclaim(keys.files, keys.group, "b-2", 0, [ids[1]])
    assert _commit(conn, keys, [(ids[1], "/f1")], {"y": 1}) == []
    assert _commit(conn, keys, [(ids[1], "/f1")], {"y": 1}) == [ids[1]]
    assert conn.hgetall(keys.counts) == {"x": "2", "café": "1", "y": "1"}
    assert conn.smembers(keys.warnings) == {"/f1"}
    assert conn.hgetall(keys.progress) == {"files": "2", "bytes": "20"}


def _snapshot(conn, keys: JobKeys) -> tuple:
    """Everything a commit may write: counts, partial tables, progress, warnings, the PEL."""
    pel = conn.xpending_range(keys.files, keys.group, "-", "+", 100)
    return (conn.hgetall(keys.counts), conn.lrange(keys.partials, 0, -1), conn.hgetall(keys.progress),
            conn.smembers(keys.warnings), [(p["message_id"], p["consumer"]) for p in pel])


@pytest.mark.parametrize("nkeys", [4, 5], ids=["counts-hash", "partial-tables"])
def test_commit_function_checks_everything_before_its_first_write(redis_server, nkeys):
    """Redis does not roll back a function that errors part-way, so a bad call
    (one id twice, malformed counts) must be refused before any XACK, whether
    the counts go to the hash or, with the fifth key, to the partial tables."""
    conn = _conn(redis_server)
    keys = JobKeys(f"unit3{nkeys}")
    key_args = [keys.files, keys.counts, keys.progress, keys.warnings, keys.partials][:nkeys]
    ids = delivered_entries(conn, keys, 2)
    before = _snapshot(conn, keys)
    bad_calls = [
        ([(ids[0], ""), (ids[0], "")], ["x", 1]),          # the same id twice
        ([(ids[0], ""), (ids[1], "")], ["x", "one"]),      # a count that is not an integer
        ([(ids[0], "")], ["x", 1, "y"]),                   # a word without a count
        ([(ids[0], "")], ["", 1]),                         # an empty word
        ([(ids[1], "")], ["x\t1\ny\tzz\n"]),             # malformed packed counts
        ([(ids[1], "")], ["x\t1"]),                        # packed counts without the last newline
        ([(ids[1], "")], ["x\t1\n\ty\t2\n"]),              # packed counts with a stray byte
        ([(ids[1], "")], ["x\t" + "9" * 19 + "\n"]),         # a count HINCRBY would refuse
        ([(ids[0], "")], ["x", "007"]),                     # ... or written as HINCRBY does not read it:
        ([(ids[0], "")], ["x", "+5"]),                      # HINCRBY refuses these, after any XACK
        ([(ids[0], "")], ["x", "-0"]),
        ([(ids[1], "")], ["x\t1\ny\t007\n"]),
        ([(ids[1], "")], ["x\t0\n"]),
        ([(ids[1], "")], ["x\t1\ny\t+5\n"]),
        ([(ids[1], "")], ["x\t1\ny\t-0\n"]),
        ([(ids[1], "")], ["x\t1\ny\t\n"]),                # an empty count
        ([(ids[1], "")], ["x\t1\n\t2\n"]),                 # an empty word
        ([(ids[1], "")], ["x\t1\n\n"]),                     # an empty line
        ([(ids[1], "")], ["x\ty\t1\n"]),                    # two tabs in a line
        ([(ids[1], "")], ["x\t1 \n"]),                       # a byte after the count
    ]
    bad_calls += [([(ids[0], "")], ["x", 1], size) for size in ("-5", "123456789012345678", "1e3", "")]  # byte counts (the second failed HINCRBY after the XACKs)
    for entries, words, *size in bad_calls:
        args: list = [keys.group, len(entries)]
        for eid, warn in entries:
            args += [eid, size[0] if size else 10, warn]
        with pytest.raises(redis.ResponseError, match="wc_commit"):
            conn.fcall(COMMIT_FUNCTION, nkeys, *key_args, *args, *words)
        assert _snapshot(conn, keys) == before, (entries, words)
    # the packed form, well formed: applied once, like pairs
    args = [keys.group, 2, ids[0], 10, "", ids[1], 10, "/f1", "x\t2\ncafé\t1\n"]
    assert conn.fcall(COMMIT_FUNCTION, nkeys, *key_args, *args) == []
    stored, _ = jobstate.read_results(redis.Redis.from_url(redis_server.url), keys)
    assert stored.as_dict() == {"x": 2, "café": 1}
    assert conn.xpending(keys.files, keys.group)["pending"] == 0


@pytest.mark.parametrize("words", [["x", 1, "x", 2, "y", 1], ["x\t1\nx\t2\ny\t1\n"]], ids=["pairs", "packed"])
def test_a_first_commit_adds_like_hincrby_even_with_a_word_twice(redis_server, words):
    """The first commit of a job sets its new hash with a few HSET calls; a word that
    comes twice in it (no reference worker sends that) still gets the sum of its counts,
    and the next commit adds to what the first left."""
    conn = _conn(redis_server)
    keys = JobKeys(f"unit5{len(words)}")
    ids = delivered_entries(conn, keys, 2)
    assert _commit(conn, keys, [(ids[0], "")], words) == []
    assert conn.hgetall(keys.counts) == {"x": "3", "y": "1"}
    assert _commit(conn, keys, [(ids[1], "")], {"x": 4, "z": 1}) == []
    assert conn.hgetall(keys.counts) == {"x": "7", "y": "1", "z": "1"}


def test_touch_refreshes_only_the_callers_own_entries(redis_server):
    conn = _conn(redis_server)
    keys = JobKeys("unit4")
    ids = delivered_entries(conn, keys, 3)
    conn.xclaim(keys.files, keys.group, "a-1", 0, [ids[0]], idle=60_000, justid=True)  # as if idle for a minute
    conn.xclaim(keys.files, keys.group, "b-2", 0, [ids[1]])  # stolen from a-1
    conn.xack(keys.files, keys.group, ids[2])  # committed
    assert conn.fcall("wc_touch", 1, keys.files, keys.group, "a-1", *ids) == [[ids[1]], [ids[2]]]
    pel = {p["message_id"]: p for p in conn.xpending_range(keys.files, keys.group, "-", "+", 10)}
    assert pel[ids[0]]["consumer"] == "a-1" and pel[ids[0]]["time_since_delivered"] < 30_000
    assert pel[ids[1]]["consumer"] == "b-2" and pel[ids[0]]["times_delivered"] == 1


def test_done_means_delivered_and_acknowledged(redis_server, tmp_path):
    """Pitfall: XPENDING is 0 before anyone read anything; that is not done."""
    import worker

    conn = redis.Redis.from_url(redis_server.url)
    keys = JobKeys("unit2")
    jobstate.enqueue(conn, keys, [{"path": f"/f{i}", "size": 1} for i in range(3)])
    settings = write_config(tmp_path, filename="settings.json", defaults=False)
    w = worker.Worker("w0", keys.job, str(settings), redis_server.url)

    assert conn.xpending(keys.files, keys.group)["pending"] == 0
    assert not jobstate.is_done(conn, keys) and not w.job_done()  # nothing delivered yet
    got = conn.xreadgroup(keys.group, "c-1", {keys.files: ">"}, count=2)[0][1]
    conn.xack(keys.files, keys.group, *[eid for eid, _ in got])
    assert not jobstate.is_done(conn, keys) and not w.job_done()  # one entry never delivered
    last = conn.xreadgroup(keys.group, "c-1", {keys.files: ">"}, count=5)[0][1]
    assert len(last) == 1
    assert not jobstate.is_done(conn, keys) and not w.job_done()  # delivered, not acknowledged
    conn.xack(keys.files, keys.group, last[0][0])
    assert jobstate.is_done(conn, keys) and w.job_done()


def test_a_batch_that_lost_an_entry_commits_the_rest_with_their_own_counts(redis_server, tmp_path):
    """A worker counts a whole batch into one table. If its commit finds an entry gone (a thief
    took it and committed first), it counts the rest again and commits exactly their words."""
    import worker

    conn = redis.Redis.from_url(redis_server.url, decode_responses=True)
    keys = JobKeys("unit5")
    files = [tmp_path / f"f{i}.txt" for i in range(3)]
    for i, f in enumerate(files):
        f.write_text(f"shared only{i} only{i}\n", encoding="utf-8")
    ranges = split_inputs([InputFile(str(f), f.stat().st_size) for f in files], 1 << 20)
    jobstate.enqueue(conn, keys, [r.fields() for r in ranges])
    settings = write_config(tmp_path, filename="settings.json", defaults=False)
    w = worker.Worker("w0", keys.job, str(settings), redis_server.url)
    w.check_library()
    batch = w.next_batch(None)
    assert len(batch.items) == 3 and batch.counts["shared"] == 3
    thief = batch.items[1]  # another worker took this one over and committed it first
    conn.xclaim(keys.files, keys.group, "thief-1", 0, [thief.entry_id])
    thief_words = Counter(Path(thief.path).read_text(encoding="utf-8").split())
    assert _commit(conn, keys, [(thief.entry_id, "")], thief_words) == []
    assert w.commit(batch) == 2
    assert conn.llen(keys.partials) == 1  # the reference worker's packed commit: a partial table
    stored, _ = jobstate.read_results(redis.Redis.from_url(redis_server.url), keys)
    assert stored.as_dict() == serial(tmp_path)
    assert w.job_done()


@pytest.mark.crash
def test_consumer_names_unique_per_process(tmp_run, corpus, redis_server):
    # Every first-generation worker dies, so the replacements' names are checked too.
    write_config(tmp_run, batch={"workers": 3, "batch_files": 1, "crash": {f"w{i}": "after_read" for i in range(3)}})
    result, table, record = run_batch(tmp_run, corpus, env={"REDIS_URL": redis_server.url})
    assert_same_table(serial(corpus), table)
    assert record.replacements >= 3
    keys = JobKeys(record.job)
    conn = _conn(redis_server)
    consumers = [c["name"] for c in conn.xinfo_consumers(keys.files, keys.group)]
    logs = sorted((tmp_run / ".wc-run" / record.job / "logs").glob("*.log"))
    started = [m for p in logs for m in re.findall(r"INFO: (\S+) started", p.read_text())]
    assert len(started) == len(logs) >= 6
    assert len(set(started)) == len(started), started
    assert all(re.fullmatch(r"w\d(\.\d+)?-\d+", name) for name in started), started
    assert len(set(consumers)) == len(consumers) and set(consumers) <= set(started), (consumers, started)
    assert len(consumers) >= 4, consumers  # the dead w0-w2 each held entries, plus a replacement


def test_two_jobs_share_one_server_without_mixing(tmp_path, redis_server):
    runs = []
    for i in range(2):
        data = make_corpus(tmp_path / f"data{i}", n_files=8, words_per_file=1000, seed=100 + i)
        cwd = tmp_path / f"run{i}"
        write_config(cwd, batch={"workers": 2})
        runs.append((data, cwd, start_client(["--config", "config.json", "--data", str(data)], cwd=cwd,
                                             env={"REDIS_URL": redis_server.url})))
    for data, cwd, proc in runs:
        out, err = stop_client(proc, timeout=60)
        assert proc.returncode == 0, f"{out}\n{err}"
        assert_same_table(serial(data), read_output(cwd / "wordcount.tsv"))
    assert serial(runs[0][0]) != serial(runs[1][0])


def test_kill_redis_every_refuses_an_external_server(tmp_run, corpus, redis_server):
    result, _, _ = run_batch(tmp_run, corpus, "--kill-redis-every", "1", expect_exit=None,
                             env={"REDIS_URL": redis_server.url})
    assert result.returncode == 2, describe(result)
    assert "--kill-redis-every needs a Redis started by this client" in result.stderr
    assert "Traceback" not in result.stderr

"""Pure pieces of the streaming job (no processes, no sockets). Properties:

* checkpoint files round-trip atomically and leave no temporary file; id 0 is
  the beginning, not a file; a damaged, missing or foreign checkpoint is an
  error, not loaded; pruning keeps exactly what a recovery may still need;
* the --kill schedule is repeatable with a seed and stops after --kill-count;
  bad kill flags and crash points are user errors;
* the partition function is stable across processes and spreads words
  evenly, odd tokens included.
"""
from __future__ import annotations

import os
import subprocess
import random
import re
import sys
import threading

import pytest

from coordinator.streams import StreamsReady
from mapper.mapper import partition
from wordcount.errors import JobFailed, UserError
from wordcount.faults.flags import parse_stream_crashes, parse_timed
from wordcount.faults.schedules import KillSchedule, KillSpec
from wordcount.stream import checkpoint, finaltable
from wordcount.stream.job import gather
from wordcount.stream.spec import JobSpec
from wordcount.table import MergedOrdered, Ordered

pytestmark = pytest.mark.stream


# -- checkpoint files ---------------------------------------------------------------------------
def test_checkpoint_round_trip_is_atomic_and_leaves_no_temp_file(tmp_path):
    state = {"counts": {"café": 2, "a\nb": 1}, "final": True}
    path = checkpoint.write(str(tmp_path), "reducer-0", 3, state)
    assert os.path.basename(path) == "reducer-0.00000003.ckpt"
    assert checkpoint.read(str(tmp_path), "reducer-0", 3) == state
    assert sorted(os.listdir(tmp_path)) == ["reducer-0.00000003.ckpt"]


def test_checkpoint_id_zero_is_the_beginning_not_a_file(tmp_path):
    with pytest.raises(ValueError):
        checkpoint.write(str(tmp_path), "mapper-0", 0, {})


@pytest.mark.parametrize("damage, reason", [
    (lambda b: b[:-5], "truncated"),
    (lambda b: b[:-2] + b"!!", "checksum"),
    (lambda b: b"garbage\n" + b, "header"),
    (lambda b: b"", "header"),
])
def test_damaged_checkpoint_is_reported_not_loaded(tmp_path, damage, reason):
    path = checkpoint.write(str(tmp_path), "mapper-1", 2, {"cursor": "5-0"})
    with open(path, "rb") as fh:
        data = fh.read()
    with open(path, "wb") as fh:
        fh.write(damage(data))
    with pytest.raises(checkpoint.CheckpointError, match=f"corrupt.*{reason}"):
        checkpoint.read(str(tmp_path), "mapper-1", 2)


def test_missing_or_foreign_checkpoint_is_an_error(tmp_path):
    with pytest.raises(checkpoint.CheckpointError, match="missing"):
        checkpoint.read(str(tmp_path), "mapper-0", 1)
    path = checkpoint.write(str(tmp_path), "mapper-0", 1, {})
    os.rename(path, checkpoint.path_for(str(tmp_path), "mapper-1", 1))
    with pytest.raises(checkpoint.CheckpointError, match="another worker"):
        checkpoint.read(str(tmp_path), "mapper-1", 1)


def test_prune_keeps_the_completed_and_newer_or_only_the_recovery_target(tmp_path):
    d = str(tmp_path)
    for cid in (1, 2, 3, 4):
        checkpoint.write(d, "reducer-0", cid, {})
    checkpoint.write(d, "reducer-1", 1, {})
    (tmp_path / ".reducer-0.abc123.tmp").write_bytes(b"half a file")  # killed mid-write
    (tmp_path / ".reducer-1.abc123.tmp").write_bytes(b"half a file")
    assert checkpoint.prune(d, "reducer-0", keep=3) == [1, 2]
    assert checkpoint.saved_ids(d, "reducer-0") == [3, 4]
    assert checkpoint.prune(d, "reducer-0", keep=3, older_only=False) == [4]
    assert checkpoint.saved_ids(d, "reducer-0") == [3]
    assert checkpoint.saved_ids(d, "reducer-1") == [1]  # other workers' files untouched
    assert sorted(os.listdir(d)) == [".reducer-1.abc123.tmp", "reducer-0.00000003.ckpt", "reducer-1.00000001.ckpt"]


# -- kill schedule and flags ------------------------------------------------------------------------
IDS = ["mapper-0", "mapper-1", "reducer-0", "reducer-1"]


def victims(spec: KillSpec, n: int) -> list[list[str]]:
    sched = KillSchedule(spec, IDS, start=0.0)
    assert not sched.due(spec.every_s - 0.01)  # the first kill comes one period after the start
    out = []
    for i in range(n):
        now = (i + 1) * spec.every_s
        assert sched.due(now)
        out.append(sched.victims())
        sched.done_one(now)
    return out


def test_kill_schedule_is_repeatable_with_a_seed():
    a = victims(KillSpec("any", 1.0, seed=7), 12)
    assert a == victims(KillSpec("any", 1.0, seed=7), 12)
    assert a != victims(KillSpec("any", 1.0, seed=8), 12)
    assert all(v[0].startswith("mapper") for v in victims(KillSpec("mapper", 1.0, seed=1), 6))
    assert victims(KillSpec("all", 1.0), 1) == [IDS]
    assert victims(KillSpec("mapper-1,reducer-0", 1.0), 1) == [["mapper-1", "reducer-0"]]


def test_kill_count_stops_the_schedule():
    sched = KillSchedule(KillSpec("reducer", 0.5, count=2), IDS, start=0.0)
    for now in (0.5, 1.0):
        assert sched.due(now)
        sched.done_one(now)
    assert not sched.due(100.0)


@pytest.mark.parametrize("who, every, count, message", [
    ("mapper-2", 1.0, None, "not a worker"),
    ("reducer", None, None, "--every"),
    ("any", 0.0, None, "--every"),
    ("all", 1.0, 0, "--kill-count"),
    ("mapper-0,nobody", 1.0, None, "not a worker"),
])
def test_bad_kill_flags_are_user_errors(who, every, count, message):
    with pytest.raises(UserError, match=message):
        parse_timed(who, every, None, count, mappers=2, reducers=2)


def test_crash_points_are_validated():
    assert parse_stream_crashes(["reducer-1:after_first_marker=hang", "mapper-0:on_final"], 2, 2) == {
        "reducer-1": "after_first_marker=hang", "mapper-0": "on_final"}
    for bad in ("reducer-1:before_forward", "mapper-3:on_final", "mapper-0", "mapper-0:on_final=slow"):
        with pytest.raises(UserError, match="bad --crash"):
            parse_stream_crashes([bad], 2, 2)


# -- partitioning --------------------------------------------------------------------------------------
WORDS = ["", "a", "café", "日本語", "x" * 1000, "hello,", "\x00", "UPPER", "upper"]


def test_partition_is_stable_across_processes():
    """Unlike hash(), the owner of a word must not depend on PYTHONHASHSEED."""
    code = "from mapper.mapper import partition; print([partition(w, 7) for w in %r])" % WORDS
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2", "3")}
    assert len(outs) == 1
    assert outs.pop().strip() == str([partition(w, 7) for w in WORDS])


def test_partition_spreads_words_evenly_and_handles_odd_tokens():
    owners = [partition(f"w{i}", 4) for i in range(4000)]
    assert all(900 < owners.count(k) < 1100 for k in range(4))
    assert all(0 <= partition(w, 3) < 3 for w in WORDS)


@pytest.mark.timeout(10)
@pytest.mark.parametrize("said, ready", [(b"ready\n", True), (b"", False), (b"go\n", False)])
def test_the_coordinator_waits_for_the_launchers_ready_line(said, ready):
    """coordinator/streams.py: "ready" lets the mappers start; EOF or anything else
    means the launcher gave up (`gone`); either way the waiting loop is woken."""
    read, write = os.pipe()
    woken = threading.Event()
    with os.fdopen(read, "rb") as source:
        streams = StreamsReady(source, woken.set)
        assert not streams.is_ready() and not streams.gone
        os.write(write, said)
        os.close(write)
        assert woken.wait(5)
        assert (streams.is_ready(), streams.gone) == (ready, not ready)
    assert StreamsReady(None, woken.set).is_ready()  # a coordinator whose streams were filled before its go


def _final(tmp_path, states: list[dict]) -> JobSpec:
    """Final checkpoints (id 1) of reducers with these states (their "final" flag added)."""
    for i, state in enumerate(states):
        checkpoint.write(str(tmp_path), f"reducer-{i}", 1, {**state, "final": True})
    for i in range(2):
        checkpoint.write(str(tmp_path), f"mapper-{i}", 1, {"warnings": [f"w{i}"], "final": True})
    return JobSpec(job="j", run_path=str(tmp_path), settings_path="", checkpoint_dir=str(tmp_path), mappers=2,
                   reducers=len(states), total_files=1)


def _summed(parts: list[dict]) -> dict:
    expected: dict = {}
    for part in parts:
        for word, n in part.items():
            expected[word] = expected.get(word, 0) + n
    return expected


def test_the_launcher_merges_the_reducers_ordered_parts_into_the_serial_order(tmp_path):
    """Reference reducers store their words in output order at the final checkpoint; merged,
    the parts give exactly the table (file bytes, top words, totals, dict) ordering all of it gives."""
    rng = random.Random(7)
    table = {"".join(rng.choice("abcé日😀") for _ in range(rng.randint(1, 5))): rng.choice([1, 1, 2, 3, 40])
             for _ in range(3000)}
    parts = [{w: n for w, n in table.items() if partition(w, 3) == k} for k in range(3)]
    merged, warnings = gather(_final(tmp_path, [{"table": finaltable.encode(p)} for p in parts]), 1)
    assert isinstance(merged, MergedOrdered) and warnings == ["w0", "w1"]
    whole = Ordered(table)
    assert merged.data() == whole.data() and merged.top(9) == whole.top(9)
    assert (merged.total, merged.distinct, merged.as_dict()) == (whole.total, whole.distinct, table)


def test_a_final_table_decodes_back_to_its_counts():
    """A restore from a final snapshot (and a launcher that sums) reads the table back as the
    counts it came from, a word decoded with surrogateescape included; a word with no UTF-8
    form, or with a newline, keeps the counts instead."""
    counts = {"a": 3, "é": 1, "日本": 1, "\udce9x": 2, "z": 3}
    assert finaltable.counts_of(finaltable.decode(finaltable.encode(counts))) == counts
    assert finaltable.encode({"a": 1, "\ud800": 1}) is None and finaltable.encode({"a\nb": 1}) is None
    assert finaltable.encode({}) == [] and finaltable.counts_of(finaltable.decode([])) == {}


@pytest.mark.parametrize("states", [
    [{"table": finaltable.encode({"a": 1, "b": 2})}, {"counts": {"c": 3}}],  # a swapped-in reducer: counts
    [{"counts": {"a": 1, "b": 2}}, {"counts": {"c": 3}}],  # the course format throughout
    [{"table": finaltable.encode({"a": 1, "b": 2})}, {"table": finaltable.encode({"a": 4, "c": 3})}],  # overlap
], ids=["one-counts", "all-counts", "overlap"])
def test_the_launcher_sums_the_reducers_parts_when_it_cannot_merge_them(tmp_path, states):
    """Parts are merged in order only when every one is a table and no word is in two of them;
    otherwise they are summed (a swapped-in mapper that does not partition, a swapped-in reducer)."""
    parts = [s["counts"] if "counts" in s else finaltable.counts_of(finaltable.decode(s["table"])) for s in states]
    table, _ = gather(_final(tmp_path, states), 1)
    assert isinstance(table, dict) and table == _summed(parts)


@pytest.mark.parametrize("bad, why", [
    ([(2, b"b"), (1, b"a\na")], "not distinct"),  # a word twice
    ([(1, b"b\na")], "not distinct, non-empty and sorted"),  # not in order
    ([(1, b"\na")], "not distinct, non-empty and sorted"),  # an empty word
    ([(2, b"a"), (1, b"a")], "under two counts"),  # a word with two counts
    ([(0, b"a")], "bad entry"),  # a count that is no count
    ([("1", b"a")], "bad entry"),
    ([(1, "a")], "bad entry"),  # words not bytes
    (["junk"], "not a (count, words) pair"),
    ({"a": 1}, "not a list"),
    (None, "neither"),
], ids=["repeated", "unsorted", "empty", "two-counts", "zero", "str-count", "str-words", "junk", "dict", "none"])
def test_the_launcher_fails_clearly_on_a_malformed_final_table(tmp_path, bad, why):
    """A table the reference could not have written is never trusted or guessed at: the job
    fails naming the reducer's checkpoint and what is wrong."""
    state = {"table": bad} if bad is not None else {}
    with pytest.raises(JobFailed, match=r"checkpoint 1 of reducer-0 has a bad table: .*" + re.escape(why)):
        gather(_final(tmp_path, [state, {"table": finaltable.encode({"c": 3})}]), 1)

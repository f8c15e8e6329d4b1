"""Replayable chaos for the streaming job: --chaos SEED (and --kill-at) kill
workers at logical points of the protocol (the N-th checkpoint sent, the N-th
completed, the N-th recovery, N files done). Properties:

* the schedule depends only on the seed and the topology;
* every point is still ahead when it is armed;
* kills are armed in order and fire once their point is reached;
* bad --chaos/--kill-at flags are one-line user errors;
* the same seed on the same data kills the same workers at the same logical
  points, and every chaos run is exact;
* a failed run prints the command that replays it.
"""
from __future__ import annotations

from collections import Counter

import pytest
from support import REPO, describe, run_client, write_config
from test_stream import STREAM_TEST, make_small_corpus, run_stream

from wordcount.errors import UserError
from wordcount.faults.flags import parse_logical
from wordcount.faults.plans import stream_schedule
from wordcount.faults.schedules import COUNTED, ChaosPlan, LogicalKills
from wordcount.trace import read_trace

SEED = 35  # mapper-1 during checkpoint 3, reducer-0 after the 4th completion, mapper-0 during recovery 2
THROTTLE = 0.12  # 44 files last long enough for about ten checkpoints and three recoveries


# -- the schedule (pure) ---------------------------------------------------------------------------
def test_schedule_depends_only_on_the_seed_and_topology():
    plans = {seed: stream_schedule(seed, 2, 2, 44) for seed in range(200)}
    assert all(stream_schedule(seed, 2, 2, 44) == plan for seed, plan in plans.items())
    assert len({p.kills for p in plans.values()}) > 150
    assert {k.at.kind for p in plans.values() for k in p.kills} == {"checkpoint", "completed", "recovery", "files"}
    assert {k.victim for p in plans.values() for k in p.kills} == {"mapper-0", "mapper-1", "reducer-0", "reducer-1"}
    assert str(plans[SEED].kills[0]) == "mapper-1@checkpoint:3"
    assert ChaosPlan.from_json(plans[SEED].to_json()) == plans[SEED]


def test_every_point_is_still_ahead_when_it_is_armed():
    for seed in range(300):
        check_points_ahead(stream_schedule(seed, 3, 2, 30))


def check_points_ahead(plan: ChaosPlan) -> None:
    """Replay the plan against the model of a run without other failures:
    each kill fires at its own point, never at arming (it would be due already)."""
    assert 2 <= len(plan.kills) <= 3, plan
    sent = completed = 0
    for i, kill in enumerate(plan.kills):
        kind, n = kill.at.kind, kill.at.n
        if kind == "checkpoint":
            assert n > sent
            completed, sent = completed + n - 1 - sent, n
        elif kind == "completed":
            assert n > completed
            sent, completed = sent + n - completed, n
        elif kind == "recovery":
            assert i >= 1 and n == i  # during the recovery the previous kill started
        else:
            assert i == 0 and 1 <= n <= 10
    if plan.kills[0].at.kind == "files":  # the checkpoint it lands in depends on timing
        assert all(k.at.kind == "recovery" for k in plan.kills[1:])


def test_kills_are_armed_in_order_and_fire_once_their_point_is_reached():
    plan = parse_logical(None, ["reducer-0@completed:2", "mapper-1@recovery:1", "mapper-0@files:5"], False, 2, 2, 10)
    kills = LogicalKills(plan)
    assert kills.due(["checkpoint_sent"], 9) is None  # files:5 is not armed yet
    assert kills.due(["checkpoint_complete", "checkpoint_sent"], 9) is None
    assert str(kills.due(["checkpoint_complete"], 9)) == "reducer-0@completed:2"
    assert kills.due(["checkpoint_aborted"], 9) is None
    assert str(kills.due(["recovery_started"], 4)) == "mapper-1@recovery:1"
    assert kills.due([], 4) is None
    assert str(kills.due([], 5)) == "mapper-0@files:5"
    assert kills.due(["checkpoint_complete"] * 9, 99) is None  # nothing left


@pytest.mark.parametrize("seed, kill_at, clock, message", [
    (None, ["mapper-2@completed:1"], False, "bad --kill-at"),
    (None, ["mapper-0@completed:0"], False, "bad --kill-at"),
    (None, ["mapper-0@done:1"], False, "bad --kill-at"),
    (None, ["mapper-0:completed:1"], False, "bad --kill-at"),
    (3, ["mapper-0@completed:1"], False, "not both"),
    (3, [], True, "use one of them"),
])
def test_bad_chaos_flags_are_user_errors(seed, kill_at, clock, message):
    with pytest.raises(UserError, match=message):
        parse_logical(seed, kill_at, clock, 2, 2, 10)


# -- real runs ----------------------------------------------------------------------------------------
def logical_kills_in_trace(run) -> list[tuple[str, str]]:
    """(victim, point) of each traced kill, checked against the transitions traced before it:
    a kill at KIND:N comes after exactly N transitions of that kind (for files, N files done)."""
    seen: Counter = Counter()
    kills = []
    for e in read_trace(run.record.trace):
        if e.get("proc") != "coordinator":
            continue
        if e["ev"] in COUNTED:
            seen[COUNTED[e["ev"]]] += 1
        elif e["ev"] == "kill" and "at" in e:
            kind, n = e["at"].split(":")
            if kind != "files":
                assert seen[kind] == int(n), (e, seen)
            kills.append((e["target"], e["at"]))
    return kills


@pytest.mark.stream
@pytest.mark.crash
@pytest.mark.timeout(60)
def test_same_seed_same_kills_at_the_same_logical_points(tmp_path):
    data = make_small_corpus(tmp_path)
    runs = [run_stream(tmp_path / name, data, "--chaos", SEED, "--throttle", THROTTLE, "--verify", timeout=50)
            for name in ("a", "b")]  # run_stream also checks each complete table against the serial count
    chaos = [run.record.chaos for run in runs]
    assert chaos[0]["seed"] == SEED and chaos[0]["schedule"] == chaos[1]["schedule"]
    planned = [(k["victim"], k["at"]) for k in chaos[0]["schedule"]]
    # the same kills, at the same points, seeing the same checkpoint and recovery ids (times differ)
    same = ("victim", "at", "checkpoint_id", "completed_id", "recovery_id")
    fired = [[{k: f[k] for k in same} for f in c["fired"]] for c in chaos]
    assert fired[0] == fired[1], fired
    assert [(f["victim"], f["at"]) for f in fired[0]] == planned  # every kill fired, none skipped
    for run in runs:
        assert logical_kills_in_trace(run) == planned
        assert run.record.kills == len(planned)
        assert sorted(r["killed"] for r in run.record.recoveries) == sorted(v for v, _ in planned)
    assert fired[0][1]["completed_id"] == 5  # checkpoint 3 was abandoned: the 4th completed is checkpoint 5


@pytest.mark.stream
@pytest.mark.crash
@pytest.mark.timeout(40)
@pytest.mark.parametrize("args, exit_code, stream", [
    # a buggy part: the verify mismatch goes to stdout, and so does the replay line
    (["--part", f"mapper={REPO / 'tests' / 'broken' / 'mapper_forgets_cursor'}", "--kill-at", "mapper-1@completed:2",
      "--throttle", "0.05"], 1, "stdout"),
    # the job fails (a damaged checkpoint): "job failed" and the replay line go to stderr
    (["--chaos", "4", "--crash", "reducer-0:corrupt_completed", "--throttle", "0.05"], 3, "stderr"),
], ids=["verify-mismatch", "job-failed"])
def test_failed_run_prints_its_replay_command(tmp_path, args, exit_code, stream):
    data = make_small_corpus(tmp_path)
    cwd = tmp_path / "run"
    write_config(cwd, stream=STREAM_TEST)
    argv = ["stream", "--data", str(data), "--verify", *args]
    result = run_client(argv, cwd=cwd, timeout=35)
    assert result.returncode == exit_code, describe(result)
    out = getattr(result, stream)
    replay = [line for line in out.splitlines() if line.startswith("replay: ")]
    assert len(replay) == 1, describe(result)
    assert replay[0].endswith("client.py " + " ".join(argv)), replay  # paths here need no quoting
    assert "Traceback" not in result.stderr

"""Lab 2 on a bad network, injected in-process (no root needed): 20% loss on
every UDP direction with 5% duplicates and 10% reordering, alone and with a
seeded kill schedule; a start-up whose hellos are mostly lost; a mapper cut
off past the heartbeat timeout that is replaced and, once healed, learns it
was superseded and exits by itself without changing the table; one cut off
past `stream.lost_contact_s` that exits while still cut off; a reducer cut
off briefly (stalls, no failure); bad --net/--partition flags are one line
before anything starts, and --help documents them. Every run's complete
table is compared with the serial count (run_stream)."""
from __future__ import annotations

import re

import pytest
from support import run_client
from test_stream import StreamRun, make_small_corpus, one_line_error, run_stream

from wordcount.stream.worker import LOST_CONTACT_EXIT, SUPERSEDED_EXIT

pytestmark = [pytest.mark.stream, pytest.mark.net, pytest.mark.timeout(120)]
BAD_NET = "loss=0.2,dup=0.05,reorder=0.1"


@pytest.fixture
def small_corpus(tmp_path):
    return make_small_corpus(tmp_path)


def injected(run: StreamRun, what: str) -> int:
    """How many datagrams all processes reported `what` (dropped, duplicated, delayed, cut)."""
    return sum(int(n) for n in re.findall(rf"network faults injected on receipt: .*?{what} (\d+)", run.log()))


def test_lossy_duplicating_reordering_network_plain_run_is_exact(tmp_run, small_corpus):
    run = run_stream(tmp_run, small_corpus, "--net", BAD_NET, "--net-seed", 11, "--throttle", 0.03)
    assert run.record.net["faults"] == [BAD_NET] and run.record.recoveries == []
    assert injected(run, "dropped") >= 5 and injected(run, "duplicated") >= 1 and injected(run, "delayed") >= 1
    assert run.record.checkpoints_completed >= 2


def test_lossy_network_with_a_seeded_kill_schedule_is_exact(tmp_run, small_corpus):
    # the plan is mapper-1@checkpoint:3, reducer-0@completed:4, mapper-0@recovery:2: the files must last
    # long enough (0.2 s each) for a second kill before the job ends, however fast it starts
    run = run_stream(tmp_run, small_corpus, "--net", BAD_NET, "--chaos", 35, "--throttle", 0.2, timeout=110)
    assert run.record.net["seed"] == 35 and run.record.kills >= 2
    assert injected(run, "dropped") >= 10


@pytest.mark.parametrize("lost", ["hello", "hello,hello_ack"])
def test_startup_survives_lost_hellos(tmp_run, small_corpus, lost):
    # only hellos lost: a reducer's heartbeats get through first, and must not end its hellos before its port is known
    run = run_stream(tmp_run, small_corpus, "--net", f"loss[{lost}]=0.7", "--net-seed", 4)
    assert injected(run, "dropped") >= 2 and run.record.recoveries == []


def test_partitioned_mapper_is_replaced_and_the_healed_zombie_exits_by_itself(tmp_run, small_corpus):
    run = run_stream(tmp_run, small_corpus, "--partition", "mapper-0@0.8+2.5", "--throttle", 0.1,
                     lost_contact_s=8.0)
    assert run.causes() == [("mapper-0", "unreachable")]
    (zombie,) = run.record.zombies
    assert run.record.zombies_exited == 1 and run.record.zombies_stopped == 0
    assert zombie == {**zombie, "worker": "mapper-0", "incarnation": 0, "exited_by_itself": True,
                      "status": SUPERSEDED_EXIT}
    assert "superseded by incarnation 1" in run.log("mapper-0.0.log")
    assert run.record.recoveries[0]["resume_after_s"] is not None


def test_a_mapper_cut_off_past_lost_contact_exits_while_still_cut_off(tmp_run, small_corpus):
    run = run_stream(tmp_run, small_corpus, "--partition", "mapper-1@0.8+30", "--throttle", 0.1,
                     lost_contact_s=2.5)
    (zombie,) = run.record.zombies
    assert zombie["exited_by_itself"] and zombie["status"] == LOST_CONTACT_EXIT
    assert "nothing from the coordinator for" in run.log("mapper-1.0.log")


def test_a_reducer_cut_off_briefly_only_stalls(tmp_run, small_corpus):
    run = run_stream(tmp_run, small_corpus, "--partition", "reducer-1@2+0.6", "--throttle", 0.1)
    assert run.record.recoveries == [] and "partitioned: TCP stalls" in run.log("reducer-1.0.log")


@pytest.mark.parametrize("args, message", [
    (["--net", "loss=2"], "loss must be a probability between 0 and 1"),
    (["--net", "loss[beats]=0.1"], "unknown message kind 'beats'"),
    (["--partition", "mapper-5@1+1"], "not a worker of this job"),
    (["--partition", "mapper-0"], "WORKER@START+DURATION"),
])
def test_bad_network_flags_are_one_line_errors(tmp_run, small_corpus, args, message):
    result = run_client(["stream", "--data", small_corpus, *args], cwd=tmp_run, timeout=30)
    assert message in one_line_error(result)


def test_help_documents_the_network_flags():
    result = run_client(["stream", "--help"], timeout=30)
    for text in ("--net", "--partition", "--net-seed", "loss=P", "to=WHO", "WORKER@START+DURATION"):
        assert text in result.stdout

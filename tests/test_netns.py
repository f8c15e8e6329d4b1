"""Both labs on a real network: every process on its own namespace "host"
(tests/kit/netns.py), placed there by `stream.placement` / `batch.placement`
and reached at its own address, Redis on a host of its own; the kernel drops
20% of the UDP every host receives and duplicates 5% of what it sends
(nftables; reordering is injected in-process, nftables cannot delay), and a
partition is an nft rule dropping everything to and from one host. Skipped,
with the reason, where namespaces cannot be made (not root, no nft)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from kit.netjobs import LAB2_HOSTS, cut_while, lab2_placement, run_log, start_redis
from kit.netns import NetLab, unavailable
from support import (
    assert_same_table,
    describe,
    read_output,
    read_record,
    run_client,
    serial,
    slow_workers,
    start_client,
    write_config,
)
from test_stream import STREAM_TEST, make_small_corpus

from kit.run import Finished

from wordcount import procs
from wordcount.record import RunRecord
from wordcount.stream.worker import SUPERSEDED_EXIT

REASON = unavailable()
if REASON is not None and os.environ.get("WC_NETNS") == "1":  # CI found namespaces usable: never skip there
    raise RuntimeError(f"WC_NETNS=1 but network namespaces are unavailable: {REASON}")
pytestmark = [pytest.mark.net, pytest.mark.timeout(120),
              pytest.mark.skipif(REASON is not None, reason=f"network namespaces unavailable: {REASON}")]


@pytest.fixture
def redis_on(tmp_path):
    """start(lab, host, client_host) -> URL of a Redis server on `host`, stopped afterwards."""
    started: list[subprocess.Popen] = []

    def start(lab: NetLab, host: str, client_host: str) -> str:
        proc, url = start_redis(lab, host, client_host, tmp_path / "redis-ns")
        started.append(proc)
        return url

    yield start
    for proc in started:
        procs.stop(proc)


def lab2_args(cwd: Path, lab: NetLab, url: str, data: Path, *args: object, remote_m0: bool = False,
              **stream: object) -> list[str]:
    write_config(cwd, stream={**STREAM_TEST, "host": lab.address("coord"),
                              "placement": lab2_placement(lab, remote_m0), **stream})
    return ["stream", "--data", str(data), "--record", str(cwd / "record.json"), "--redis-url", url, *map(str, args)]


def finished(cwd: Path, data: Path, result: Finished) -> RunRecord:
    assert result.returncode == 0, describe(result)
    assert_same_table(serial(data), read_output(cwd / "wordcount.tsv"))
    return read_record(cwd / "record.json")


@pytest.mark.parametrize("chaos", [None, 35], ids=["plain", "chaos35"])
def test_lab2_across_hosts_with_kernel_loss_and_duplicates_is_exact(tmp_path, redis_on, chaos):
    data, cwd = make_small_corpus(tmp_path), tmp_path / "run"
    with NetLab(LAB2_HOSTS) as lab:
        url = redis_on(lab, "redis", "coord")
        lab.lossy(20, dup=5)
        # chaos 35 kills at checkpoint:3, completed:4, recovery:2: files of 0.2 s each last long enough for two
        extra = ["--chaos", chaos, "--throttle", 0.2] if chaos else ["--throttle", 0.03]
        result = run_client(lab2_args(cwd, lab, url, data, "--net", "reorder=0.1", *extra), cwd=cwd,
                            launch=lab.launch("coord"), timeout=110)
        record = finished(cwd, data, result)
    assert record.kills >= (2 if chaos else 0)
    coordinator_log = (Path(str(record.run_path)) / "logs" / "coordinator.log").read_text()
    for worker, host in (("mapper-1", "m1"), ("reducer-0", "r0"), ("reducer-1", "r1")):
        assert f"{worker} incarnation 0 is at {lab.address(host)}:" in coordinator_log


def test_lab2_partitioned_mapper_is_replaced_and_its_zombie_changes_nothing(tmp_path, redis_on):
    data, cwd = make_small_corpus(tmp_path), tmp_path / "run"
    with NetLab(LAB2_HOSTS) as lab:
        url = redis_on(lab, "redis", "coord")
        proc = start_client(lab2_args(cwd, lab, url, data, "--throttle", 0.15, remote_m0=True, lost_contact_s=8.0),
                            cwd=cwd, launch=lab.launch("coord"))
        result = cut_while(lab, "m0", proc, (lambda: "checkpoint 2 taken" in run_log(cwd, "mapper-0.0.log"), 40,
                                             "mapper-0 at work"),
                           [(lambda: "mapper-0 failed (unreachable)" in run_log(cwd, "coordinator.log"), 20,
                             "the coordinator to declare the cut-off mapper dead"),
                            (lambda: "recovered to checkpoint" in run_log(cwd, "mapper-0.1.log"), 20,
                             "its replacement")])
        record = finished(cwd, data, result)
    (zombie,) = record.zombies
    assert zombie["exited_by_itself"] and zombie["status"] == SUPERSEDED_EXIT, zombie
    assert "superseded by incarnation 1" in run_log(cwd, "mapper-0.0.log")


def test_lab1_worker_partitioned_from_redis_loses_its_entries_and_its_late_commit_changes_nothing(
        tmp_path, redis_on):
    data, cwd = make_small_corpus(tmp_path), tmp_path / "run"
    with NetLab(["client", "redis", "w0"]) as lab:
        url = redis_on(lab, "redis", "client")
        crash = {**slow_workers(3, 0.05), "w0": "before_commit=slow:2"}
        write_config(cwd, batch={"workers": 3, "claim_timeout_s": 1.0, "crash": crash,
                                 "placement": {"w0": {"launch": lab.launch("w0")}}})
        proc = start_client(["--data", data, "--record", cwd / "record.json", "--redis-url", url], cwd=cwd,
                            launch=lab.launch("client"))
        result = cut_while(lab, "w0", proc, (lambda: "stalling" in run_log(cwd, "w0.log"), 40, "w0 holding entries"),
                           [(lambda: "stole" in run_log(cwd, "w1.log") + run_log(cwd, "w2.log"), 20,
                             "its entries stolen")])
        record = finished(cwd, data, result)
    assert record.stolen >= 1
    assert "no longer pending" in run_log(cwd, "w0.log") + run_log(cwd, "w1.log") + run_log(cwd, "w2.log")

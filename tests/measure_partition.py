"""Recovery time after a partition, as docs/lab2.md reports it.

    python tests/measure_partition.py [--runs 7] [--netns]

Each run is a 2x2 Lab 2 job on a 44-file corpus (--throttle 0.1, the test
timers: heartbeat every 0.1 s, timeout 1.5 s) in which mapper-0 is cut off
for 2.5 s, 0.8 s after it started: in-process (--partition), or with --netns
on its own namespace host by an nftables rule (needs root). The run record's
"recoveries" entry for it gives `resume_after_s`: from the moment the
coordinator declared it dead (its heartbeat deadline passed) until a mapper
processed an entry past its rollback position, i.e. the job made progress
again. Prints every run and the median.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from support import make_corpus, read_record, run_client, start_client, write_config

from kit.netjobs import LAB2_HOSTS, cut_while, lab2_placement, run_log, start_redis
from kit.netns import NetLab
from wordcount import procs
from wordcount.record import RunRecord

TIMERS = {"heartbeat_interval_s": 0.1, "heartbeat_timeout_s": 1.5, "resend_timeout_s": 0.3,
          "checkpoint_interval_s": 0.25, "lost_contact_s": 8.0}
ARGS = ["--throttle", "0.1"]


def in_process(cwd: Path, data: Path) -> RunRecord:
    write_config(cwd, stream=TIMERS)
    result = run_client(["stream", "--data", data, "--record", cwd / "record.json", "--partition",
                         "mapper-0@0.8+2.5", *ARGS], cwd=cwd, timeout=120)
    if result.returncode:
        raise SystemExit(f"run failed:\n{result.stderr[-2000:]}")
    return read_record(cwd / "record.json")


def in_namespaces(cwd: Path, data: Path) -> RunRecord:
    with NetLab(LAB2_HOSTS) as lab:
        redis, url = start_redis(lab, "redis", "coord", cwd / "redis")
        try:
            write_config(cwd, stream={**TIMERS, "host": lab.address("coord"),
                                      "placement": lab2_placement(lab, remote_m0=True)})
            proc = start_client(["stream", "--data", data, "--record", cwd / "record.json", "--redis-url", url,
                                 *ARGS], cwd=cwd, launch=lab.launch("coord"))
            cut_while(lab, "m0", proc, (lambda: "checkpoint 2 taken" in run_log(cwd, "mapper-0.0.log"), 40,
                                        "mapper-0 at work"),
                      [(lambda: "recovered to checkpoint" in run_log(cwd, "mapper-0.1.log"), 20, "a replacement")])
        finally:
            procs.stop(redis)
    return read_record(cwd / "record.json")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--netns", action="store_true", help="real partitions in network namespaces (root)")
    args = parser.parse_args()
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        data = make_corpus(Path(tmp) / "corpus", n_files=40, seed=3, words_per_file=1500, csv_files=4)
        for i in range(args.runs):
            record = (in_namespaces if args.netns else in_process)(Path(tmp) / f"run{i}", data)
            (rec,) = [r for r in record.recoveries if r["killed"] == "mapper-0"]
            times.append(rec["resume_after_s"])
            print(f"run {i}: {rec}  zombies {record.zombies_exited} exited, {record.zombies_stopped} stopped")
    print(f"{'netns' if args.netns else 'in-process'}: detected -> progress again, median "
          f"{statistics.median(times):.3f}s (min {min(times):.3f}, max {max(times):.3f}, {len(times)} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The small job: what a job over one tiny file costs, against the serial script on it.

Here nothing is counted: the time is start-up and end (Python processes,
the private Redis a user's job starts, the first snapshot, reading the table
back, stopping everything). So the jobs run exactly as a user runs them,
with their own private server (no $REDIS_URL), and the result is given in
seconds as well as a ratio: a fixed cost shows in seconds, not in a ratio.
Rounds alternate serial, batch and stream so load spreads over all three.
"""
from __future__ import annotations

import logging
import statistics
from dataclasses import replace
from typing import Any

from kit.bench.baselines import serial_once
from kit.bench.measure import Bench, Config, job_once

log = logging.getLogger("benchmark")
TEXT = "a tiny file: one line of words\n"
BATCH = Config("batch, one tiny file", "batch", ("--workers", "2"), private_redis=True)
STREAM = Config("stream, one tiny file", "stream", ("stream", "--mappers", "2", "--reducers", "2"),
                private_redis=True)
TARGET_S = 0.5  # the target for a batch job (Lab 1) over one tiny file


def run_small_jobs(bench: Bench, rounds: int) -> dict[str, Any]:
    """Median seconds of the serial script, the batch job and the streaming job on one tiny file."""
    data = bench.work / "tiny"
    data.mkdir(exist_ok=True)
    (data / "tiny.txt").write_text(TEXT, encoding="utf-8")
    one = replace(bench, data=data, label="tiny-")
    plan = [BATCH, *([] if bench.args.no_stream or bench.stream_error else [STREAM])]
    times: dict[str, list[float]] = {"serial": []}
    for rep in range(rounds):
        times["serial"].append(serial_once(one).seconds)
        for config in plan:
            run = job_once(one, config, rep)
            if run.ok and run.check == "OK":
                times.setdefault(config.name, []).append(run.seconds)
            else:
                log.warning("%s failed: %s %s", config.name, run.check, run.error)
    return {"bytes": len(TEXT.encode()), "rounds": rounds,
            "seconds": {name: statistics.median(t) for name, t in times.items() if t},
            "times": {name: [round(x, 3) for x in t] for name, t in times.items()}}


def print_small_jobs(small: dict[str, Any]) -> None:
    if not small:
        return
    seconds = small["seconds"]
    serial = seconds.get("serial")
    print(f"\nsmall job: one {small['bytes']}-byte file, jobs with their own private Redis, median of "
          f"{small['rounds']} round(s)")
    for name, value in seconds.items():
        ratio = f"  ({value / serial:.1f}x serial)" if serial and name != "serial" else ""
        verdict = f"  target <= {TARGET_S:g}s: {'PASS' if value <= TARGET_S else 'MISS'}" if name == BATCH.name else ""
        print(f"  {name:<24}{value:>6.2f}s{ratio}{verdict}")

"""Word count over Redis streams (Lab 1), and the entry point of both jobs.

    python client.py [options]          MapReduce-style batch job (Lab 1)
    python client.py stream [options]   streaming job with checkpoints (Lab 2)

The batch job: put one stream entry per input file, snapshot Redis, start N
worker processes, supervise them (BGSAVE checkpoints, optional Redis kills,
replacements if every worker died), then read the table and report.
"""
from __future__ import annotations

import argparse
import logging
import os
import time
from dataclasses import replace
from typing import Sequence

import myrds
from wordcount import parts, procs, trace
from wordcount.batch.claims import STOLEN_LIVE
from wordcount.batch.jobstate import enqueue, read_results
from wordcount.batch.supervisor import Supervisor, redis_pid
from wordcount.cli import (
    add_common_arguments,
    report,
    run_main,
    settings_and_inputs,
    with_replay,
    write_record,
)
from wordcount.config import Settings
from wordcount.errors import UserError
from wordcount.faults.batch_plan import Schedule, batch_schedule
from wordcount.faults.process import parse_crash_spec
from wordcount.inputs import InputFile
from wordcount.keys import JobKeys, new_job_id
from wordcount.stream.launch import stream_main

log = logging.getLogger("client")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="client.py",
        description="Count every word of the input files with N worker processes over Redis "
        "streams. Run 'python client.py stream --help' for the streaming (Lab 2) job.",
    )
    add_common_arguments(parser)
    parser.add_argument("--workers", type=int, metavar="N", help="number of worker processes")
    parser.add_argument("--crash", action="append", default=[], metavar="NAME:POINT",
                        help="make worker NAME (w0, w1, ...) die at POINT: after_read, mid_count, "
                        "before_commit, after_commit; or stall before every commit with slow[=SECONDS]. "
                        "Repeatable. Fires once: replacements get new names.")
    parser.add_argument("--kill-redis-every", type=float, metavar="S",
                        help="SIGKILL the private Redis every S seconds while work is pending, "
                        "then restart it (needs a server this client started)")
    parser.add_argument("--chaos", type=int, metavar="SEED",
                        help="seeded crash schedule: some workers die at a random point and arrival, "
                        "and the private Redis is killed after a random number of committed files; "
                        "the same SEED on the same data replays it")
    parser.add_argument("--claim-timeout", type=float, metavar="S",
                        help="steal entries pending longer than S seconds")
    return parser.parse_args(argv)


def overrides(args: argparse.Namespace) -> dict:
    crash = dict(parse_crash_spec(s) for s in args.crash) or None
    return {"workers": args.workers, "crash": crash, "kill_redis_every_s": args.kill_redis_every,
            "claim_timeout_s": args.claim_timeout}


# -- entry point -----------------------------------------------------------------
def batch_main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    settings, inputs = settings_and_inputs(args, overrides(args))
    external = bool(settings.redis_url or os.environ.get("REDIS_URL"))
    if settings.kill_redis_every_s and external:
        raise UserError("--kill-redis-every needs a Redis started by this client; drop --redis-url/REDIS_URL")
    schedule = None
    if args.chaos is not None:
        schedule = batch_schedule(args.chaos, settings.workers, len(inputs), not external)
        settings = replace(settings, crash={**schedule.crashes, **settings.crash})
        log.info("chaos seed %d: crashes %s, Redis kills after %s committed files",
                 args.chaos, schedule.crashes, list(schedule.redis_kills_after))
    return with_replay(lambda: run_batch(args, settings, inputs, schedule), argv)


def run_batch(args: argparse.Namespace, settings: Settings, inputs: list[InputFile],
              schedule: Schedule | None) -> int:
    keys = JobKeys(new_job_id())
    run_path = os.path.abspath(os.path.join(settings.run_dir, keys.job))
    os.makedirs(os.path.join(run_path, "logs"), exist_ok=True)
    trace.setup(os.path.join(run_path, "trace.jsonl"), "client")
    trace.event(trace.RUN_START, job=keys.job, lab=1, workers=settings.workers, files=len(inputs),
                wall=time.time())
    t0 = time.perf_counter()
    server, conn, url = myrds.open_server(settings.redis_url, run_path, parts.resolve(settings.parts, "lua"))
    if server:
        trace.event(trace.SPAWN, target="redis", target_pid=redis_pid(server))
    sup = None
    try:
        entries = enqueue(conn, keys, inputs, settings.split_bytes, private=server is not None)
        sup = Supervisor(settings, keys, url, run_path, conn, server,
                         entries, sum(f.size for f in inputs),
                         list(schedule.redis_kills_after) if schedule else [])
        sup.start_all()
        sup.run()
        table, warnings = read_results(sup.conn, keys)
        elapsed = time.perf_counter() - t0
        restarts = server.restarts if server else 0
        stolen = sup.progress()[2]
        stolen_live = int(sup.conn.hget(keys.progress, STOLEN_LIVE) or 0)
        log.info("job %s: %d replacements, %d entries stolen, %d Redis restarts",
                 keys.job, sup.replacements, stolen, restarts)
        trace.event(trace.JOB_DONE, elapsed_s=elapsed, stolen=stolen, redis_restarts=restarts,
                    replacements=sup.replacements)
        write_record({"job": keys.job, "kind": "batch", "elapsed_s": elapsed, "files": len(inputs),
                      "bytes": sum(f.size for f in inputs), "workers": settings.workers,
                      "stolen": stolen, "stolen_live": stolen_live, "redis_restarts": restarts,
                      "replacements": sup.replacements,
                      "trace": trace.path(), "chaos": schedule.to_json() if schedule else None},
                     run_path, args.record)
    finally:
        if sup:
            sup.stop_workers()
        if server:
            server.stop()
        trace.event(trace.RUN_END)
    return report(table, inputs, settings, warnings, elapsed, args.verify)


def main(argv: Sequence[str]) -> int:
    if argv and argv[0] == "stream":
        return stream_main(list(argv[1:]))
    return batch_main(argv)


if __name__ == "__main__":
    procs.exit_now(run_main(main))

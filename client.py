"""Word count over Redis streams (Lab 1), and the entry point of both jobs.

    python client.py [options]          MapReduce-style batch job (Lab 1)
    python client.py stream [options]   streaming job with checkpoints (Lab 2)
    python client.py clean [--keep N]   delete the run directories of finished jobs

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
from wordcount import jobuser, parts, rundirs, trace
from wordcount.batch.claims import STOLEN_LIVE
from wordcount.batch.jobstate import enqueue, expire, read_results
from wordcount.batch.supervisor import Supervisor, redis_pid
from wordcount.cli import (
    add_common_arguments,
    exit_process,
    report,
    run_main,
    settings_and_inputs,
    with_replay,
)
from wordcount.config import MAX_PROCESSES, Settings
from wordcount.errors import UserError
from wordcount.faults.flags import parse_batch_crashes
from wordcount.faults.plans import BatchPlan, batch_schedule
from wordcount.helptext import BATCH_EXAMPLES, SETTINGS_NOTE, HelpFormatter, default
from wordcount.inputs import InputFile
from wordcount.keys import JobKeys, new_job_id
from wordcount.record import RunRecord

log = logging.getLogger("client")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="client.py", formatter_class=HelpFormatter, epilog=BATCH_EXAMPLES,
        description="Count every word of the input files with N worker processes over Redis "
        "streams (Lab 1). Run 'python client.py stream --help' for the streaming (Lab 2) job and "
        "'python client.py clean --help' to delete old run directories.\n\n" + SETTINGS_NOTE,
    )
    add_common_arguments(parser)
    parser.add_argument("--workers", type=int, metavar="N",
                        help=f"number of worker processes, 1 to {MAX_PROCESSES}" + default("batch.workers"))
    parser.add_argument("--crash", action="append", default=[], metavar="NAME:POINT[@K][=ACTION]",
                        help="fault of worker NAME (w0, w1, ...) on its K-th arrival (default 1st) at "
                        "POINT: after_read, mid_count, before_commit, after_commit. ACTION: exit (default) "
                        "dies at once, slow:SECONDS stalls at every arrival from the K-th on, e.g. "
                        "w1:before_commit=slow:4 (old spelling: w1:slow=4). Repeatable; fires once per "
                        "name: replacements get new names. See docs/faults.md")
    parser.add_argument("--kill-redis-every", type=float, metavar="S",
                        help="SIGKILL the private Redis (process or container) every S seconds while "
                        "work is pending, then restart it (needs a server this client started)"
                        + default("batch.kill_redis_every_s", off=True))
    parser.add_argument("--kill-redis-at", type=int, action="append", default=[], metavar="N",
                        help="SIGKILL the private Redis once N entries are committed, then restart it "
                        "(a logical kill point, not a timer: the same N hits the same moment of the job "
                        "on every run). Repeatable")
    parser.add_argument("--chaos", type=int, metavar="SEED",
                        help="seeded crash schedule: some workers die at a random point and arrival, "
                        "and the private Redis is killed after a random number of committed files; "
                        "the same SEED on the same data replays it")
    parser.add_argument("--claim-timeout", type=float, metavar="S",
                        help="steal entries pending longer than S seconds" + default("batch.claim_timeout_s"))
    return parser.parse_args(argv)


def overrides(args: argparse.Namespace) -> dict:
    crash = parse_batch_crashes(args.crash) or None
    return {"batch.workers": args.workers, "batch.crash": crash,
            "batch.kill_redis_every_s": args.kill_redis_every, "batch.claim_timeout_s": args.claim_timeout}


# -- entry point -----------------------------------------------------------------
def batch_main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    settings, inputs = settings_and_inputs(args, overrides(args))
    external = bool(myrds.external_url(settings.redis_url, settings.redis_backend))
    if (settings.batch.kill_redis_every_s or args.kill_redis_at) and external:
        flag = "--kill-redis-every" if settings.batch.kill_redis_every_s else "--kill-redis-at"
        raise UserError(f"{flag} needs a Redis started by this client; drop --redis-url/REDIS_URL")
    if any(n < 1 for n in args.kill_redis_at):
        raise UserError("--kill-redis-at N: N is a number of committed entries, at least 1")
    plan = BatchPlan(seed=None, crashes={}, redis_kills_after=tuple(sorted(args.kill_redis_at))) \
        if args.kill_redis_at else None
    if args.chaos is not None:
        plan = batch_schedule(args.chaos, settings.batch.workers, len(inputs), not external)
        plan = replace(plan, redis_kills_after=tuple(sorted((*plan.redis_kills_after, *args.kill_redis_at))))
        crashes = {**plan.crashes, **settings.batch.crash}
        settings = replace(settings, batch=replace(settings.batch, crash=crashes))
        log.info("chaos seed %d: crashes %s, Redis kills after %s committed files",
                 args.chaos, plan.crashes, list(plan.redis_kills_after))
    return with_replay(lambda: run_batch(args, settings, inputs, plan), argv)


def run_batch(args: argparse.Namespace, settings: Settings, inputs: list[InputFile],
              plan: BatchPlan | None) -> int:
    keys = JobKeys(new_job_id())
    run = rundirs.start_run(settings.run_dir, keys.job, settings.keep_runs)
    run_path = run.path
    trace.setup(os.path.join(run_path, "trace.jsonl"), "client")
    trace.event(trace.RUN_START, job=keys.job, lab=1, workers=settings.batch.workers, files=len(inputs),
                wall=time.time())
    t0 = time.perf_counter()
    server, conn, url = myrds.open_server(settings.redis_url, run_path, parts.resolve(settings.parts, "lua"),
                                          settings.redis_backend, settings.docker_image)
    url = jobuser.create(conn, url, keys.job, server)  # workers get a user limited to this job's keys
    if server:
        trace.event(trace.SPAWN, target="redis", target_pid=redis_pid(server))
    sup = None
    try:
        entries = enqueue(conn, keys, inputs, settings.split_bytes, private=server is not None)
        total_bytes = sum(f.size for f in inputs)
        sup = Supervisor(settings, keys, url, run_path, conn, server, entries, total_bytes,
                         list(plan.redis_kills_after) if plan else [])
        sup.start_all()
        sup.run()
        table, warnings = read_results(sup.conn, keys)
        refused = jobuser.refused(sup.conn) if server else {}
        elapsed = time.perf_counter() - t0
        restarts = server.restarts if server else 0
        files_done, bytes_done, stolen = sup.progress()
        stolen_live = int(sup.conn.hget(keys.progress, STOLEN_LIVE) or 0)
        log.info("job %s: %d replacements, %d entries stolen, %d Redis restarts",
                 keys.job, sup.replacements, stolen, restarts)
        trace.event(trace.JOB_DONE, elapsed_s=elapsed, stolen=stolen, redis_restarts=restarts,
                    replacements=sup.replacements)
        RunRecord(kind="batch", job=keys.job, elapsed_s=elapsed, files=len(inputs),
                  bytes=total_bytes, run_path=run_path, trace=trace.path(),
                  chaos=plan.to_json() if plan else None, workers=settings.batch.workers,
                  stolen=stolen, stolen_live=stolen_live, redis_restarts=restarts, replacements=sup.replacements,
                  redis_commands=sup.redis_commands,
                  progress_mismatch=abs(files_done - entries) + abs(bytes_done - total_bytes),
                  warnings=len(warnings),
                  redis_refused=refused,
                  ).write(run_path, args.record)
    finally:
        if sup:
            sup.stop_workers()
        if server:
            server.stop()
        else:
            expire(conn, keys)
        trace.event(trace.RUN_END)
        run.close()
    if refused:
        print(jobuser.refused_line(refused))  # someone tried passwords, or a worker left its keys
    return report(table, inputs, settings, warnings, elapsed, args.verify)


def main(argv: Sequence[str]) -> int:
    if argv and argv[0] == "stream":
        from wordcount.stream.launch import stream_main  # Lab 2's modules: a batch job need not load them

        return stream_main(list(argv[1:]))
    if argv and argv[0] == "clean":
        return rundirs.clean_main(list(argv[1:]))
    return batch_main(argv)


if __name__ == "__main__":
    exit_process(run_main(main))

"""Word count over Redis streams (Lab 1), and the entry point of both jobs.

    python client.py [options]          MapReduce-style batch job (Lab 1)
    python client.py stream [options]   streaming job with checkpoints (Lab 2)
    python client.py clean [--keep N]   delete the run directories of finished jobs

The batch job: start the workers' interpreters (they wait: wordcount/warm.py),
put one stream entry per input range, snapshot Redis, let the N workers run,
supervise them (BGSAVE checkpoints, optional Redis kills, replacements if
every worker died), then read the table and report (wordcount/batch/job.py).
"""
from __future__ import annotations

import argparse
import logging
import os
import time
from dataclasses import replace
from typing import Sequence

from wordcount import jobuser, rundirs, trace
from wordcount.batch.starter import WorkerStarter, first_started
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
from wordcount.redisconf import external_url
from wordcount.splits import split_inputs

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
    external = bool(external_url(settings.redis_url, settings.redis_backend))
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
    trace.setup(os.path.join(run.path, "trace.jsonl"), "client")
    trace.event(trace.RUN_START, job=keys.job, lab=1, workers=settings.batch.workers, files=len(inputs),
                wall=time.time())
    t0 = time.perf_counter()
    ranges = split_inputs(inputs, settings.split_bytes)
    server = jobuser.plan(keys.job, settings.redis_url, settings.redis_backend)  # the workers' URL, known now
    starter = WorkerStarter(settings, keys.job, run.path, server.worker_url)
    try:
        # The first workers' interpreters start now, before this process imports redis-py and sets up
        # the server: the start-ups overlap (wordcount/warm.py). They run once the stream is ready.
        starter.prestart(f"w{i}" for i in range(first_started(settings.batch.workers, len(ranges))))
        from wordcount.batch.job import run_job  # redis-py and the server, while the workers start

        outcome = run_job(settings, keys, run.path, inputs, ranges, server, starter, plan, args.record, t0)
    finally:
        starter.cancel_unused()
        trace.event(trace.RUN_END)
        run.close()
    return report(outcome, inputs, settings, args.verify)


def main(argv: Sequence[str]) -> int:
    if argv and argv[0] == "stream":
        from wordcount.stream.launch import stream_main  # Lab 2's modules: a batch job need not load them

        return stream_main(list(argv[1:]))
    if argv and argv[0] == "clean":
        return rundirs.clean_main(list(argv[1:]))
    return batch_main(argv)


if __name__ == "__main__":
    exit_process(run_main(main))

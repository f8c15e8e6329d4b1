"""What the benchmark runs, and in which order: rounds of every configuration on one corpus.

Each round runs the serial count first and then every other configuration
once, so that every run has a serial time measured moments before it on the
same corpus (the scaling table's same-round ratios), and repetitions are
interleaved so that load from other users of the machine spreads over all
configurations instead of spoiling one.
"""
from __future__ import annotations

import argparse
import logging

from kit.bench.baselines import COUNT_ONLY, count_only_once, pool_once, serial_once
from kit.bench.measure import Bench, Config, Run, job_once

from wordcount.stream.auth import INSECURE_ENV

log = logging.getLogger("benchmark")
STREAM_BASE = ("stream", "--mappers", "2", "--reducers", "2")
CKPT = ("--checkpoint-interval", "0.5")
KILL_ARGS = ("--kill", "mapper-0", "--every", "2", "--kill-count", "1")
POOL = Config("Pool(2)", "pool")
STREAM = Config("stream 2x2 ckpt 0.5s", "stream", (*STREAM_BASE, *CKPT))  # also the HMAC reference
NO_AUTH = Config("stream 2x2 no auth", "stream", (*STREAM_BASE, *CKPT), env=((INSECURE_ENV, "1"),))


def batch(workers: int) -> Config:
    return Config(f"batch {workers} worker{'s' if workers > 1 else ''}", "batch", ("--workers", str(workers)))


def configs(args: argparse.Namespace) -> list[Config]:
    """The main table's rows after the serial count."""
    rows = [POOL, *(batch(n) for n in args.workers)]
    if not args.no_stream:
        rows += [
            STREAM,
            Config("stream 2x2 ckpt off", "stream", (*STREAM_BASE, "--checkpoint-interval", "0")),
            Config("stream 2x2 kill mapper-0", "stream", (*STREAM_BASE, *CKPT, *KILL_ARGS)),
            NO_AUTH,
        ]
    return rows


def scaling_configs(args: argparse.Namespace) -> list[Config]:
    """The scaling table's columns: Pool(2), Lab 1 with each worker count, Lab 2 with 2x2."""
    return [POOL, *(batch(n) for n in args.workers), *([] if args.no_stream else [STREAM])]


def run_once(bench: Bench, config: Config, index: int) -> Run:
    if config.kind == "pool":
        return pool_once(bench, config.name)
    return job_once(bench, config, index)


def run_rounds(bench: Bench, plan: list[Config], count_only: bool = False) -> dict[str, list[Run]]:
    """`repeat` rounds of the serial count (and, with `count_only`, the count alone in this process)
    then `plan`; stream configurations are dropped once the plain stream job has failed in the first
    round (Lab 2 not implemented yet: said once, not as failed rows).

    runs[name][i] is round i's run of `name`: runs are only ever skipped from the second round on, and
    then in every later round."""
    runs: dict[str, list[Run]] = {"serial": []}
    first_stream = next((c for c in plan if c.kind == "stream"), None)
    for rep in range(bench.args.repeat):
        runs["serial"].append(serial_once(bench))
        log.info("%sserial: %.2fs", bench.label, runs["serial"][-1].seconds)
        if count_only:
            runs.setdefault(COUNT_ONLY, []).append(count_only_once(bench))
        for config in plan:
            if config.kind == "stream" and bench.stream_error is not None:
                continue
            run = run_once(bench, config, rep)
            runs.setdefault(config.name, []).append(run)
            log.info("%s%s: %.2fs %s%s", bench.label, config.name, run.seconds, run.check,
                     f" ({run.error})" if run.error else "")
            if config is first_stream and not run.ok and rep == 0:
                bench.stream_error = run.error  # the plain stream run failed at once: not implemented yet
    return runs


def run_all(bench: Bench) -> dict[str, list[Run]]:
    """The main table's runs."""
    return run_rounds(bench, configs(bench.args), count_only=True)

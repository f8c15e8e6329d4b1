"""`python client.py stream ...`: the streaming job (Lab 2) from the command line.

Validates flags and settings, starts the coordinator's interpreter (it waits
for its go: wordcount/warm.py), then runs the job (job.py: one Redis stream
of input ranges per mapper, the coordinator's go -- it starts the reducers
and the mappers --, its status line, the reducers' final checkpoints read
into the word table) and reports exactly like the batch job. Each run's
frames are authenticated with a key made for it (wordcount/stream/auth.py)
and given to the coordinator in its environment only; rejected frames are
counted in the run record and a summary line. Nothing here imports redis-py:
that happens only once the coordinator is starting, so the two start-ups
overlap.
"""
from __future__ import annotations

import argparse
import logging
import os
import socket
import subprocess
import time
from typing import Sequence

from wordcount import jobuser, parts, procs, rundirs, trace
from wordcount.cli import (
    report,
    settings_and_inputs,
    with_replay,
)
from wordcount.config import StreamSettings
from wordcount.errors import UserError
from wordcount.faults.flags import parse_logical, parse_stream_crashes, parse_timed
from wordcount.keys import JobKeys, new_job_id
from wordcount.splits import split_inputs
from wordcount.stream import auth
from wordcount.stream.cli import overrides, parse_args
from wordcount.stream.netflags import apply_net, describe
from wordcount.stream.spec import spec_path, write_spec

log = logging.getLogger("client")


# -- checks before anything starts --------------------------------------------------
def check_ports(st: StreamSettings) -> None:
    """Configured ports must be free now; 0 means the process picks one."""
    if st.coordinator_port and port_taken(st.host, st.coordinator_port, socket.SOCK_DGRAM):
        raise UserError(f"stream.coordinator_port {st.coordinator_port} is in use; pick another or use 0")
    ports = list(st.reducer_ports)
    if ports and len(ports) != st.reducers:
        raise UserError(f"stream.reducer_ports has {len(ports)} entries for {st.reducers} reducers; "
                        "give one per reducer, or [] to pick free ports")
    for i, port in enumerate(ports):
        if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port < 65536:
            raise UserError(f"stream.reducer_ports[{i}] must be a port number (got {port!r})")
        if port and (ports.count(port) > 1 or port_taken(st.host, port)):
            raise UserError(f"stream.reducer_ports[{i}] {port} is in use; pick another or use 0")


def port_taken(host: str, port: int, kind: int = socket.SOCK_STREAM) -> bool:
    """True if a socket of `kind` is bound to (host, port). A TCP probe binds with
    SO_REUSEADDR, as a reducer does, so connections of an earlier run lingering
    in TIME_WAIT do not count."""
    with socket.socket(socket.AF_INET, kind) as s:
        if kind == socket.SOCK_STREAM:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


# -- entry point -----------------------------------------------------------------------------
def stream_main(argv: Sequence[str]) -> int:
    """Run the job; a failed one (job failed, or --verify found a difference) prints its replay command."""
    return with_replay(lambda: run_stream(parse_args(argv)), ["stream", *argv])


def run_stream(args: argparse.Namespace) -> int:
    settings, inputs = settings_and_inputs(args, overrides(args))
    st = settings.stream
    timed = parse_timed(args.kill, args.every, args.seed, args.kill_count, st.mappers, st.reducers)
    logical = parse_logical(args.chaos, args.kill_at, timed is not None, st.mappers, st.reducers, len(inputs))
    parse_stream_crashes(args.crash, st.mappers, st.reducers)
    if args.throttle < 0:
        raise UserError("--throttle must be >= 0")
    check_ports(st)
    settings = apply_net(args, settings)
    if describe(settings):
        log.info("network faults: %s", describe(settings))
    if logical:
        log.info("chaos%s: kill %s", f" seed {logical.seed}" if logical.seed is not None else "",
                 logical.describe())
    keys = JobKeys(new_job_id())
    run = rundirs.start_run(settings.run_dir, keys.job, settings.keep_runs)
    t0 = time.perf_counter()
    trace.setup(os.path.join(run.path, "trace.jsonl"), "client")
    trace.event(trace.RUN_START, job=keys.job, lab=2, mappers=st.mappers, reducers=st.reducers,
                files=len(inputs), wall=time.time())
    ranges = split_inputs(inputs, settings.split_bytes)
    server = jobuser.plan(keys.job, settings.redis_url, settings.redis_backend)  # the mappers' URL, known now
    key = auth.Key.generate()
    # The reference coordinator runs before the streams are filled (it starts the reducers meanwhile);
    # a swapped-in one gets the course contract, `--spec` alone and its go once everything is ready.
    early = parts.resolve(settings.parts, "coordinator") == parts.REFERENCE["coordinator"]
    early_flag = ["--streams-on-stdin"] if early else []
    # The coordinator's interpreter starts now; it runs once its spec is written. Secrets go in its
    # environment (owner-only; its workers inherit them), never in argv (world-readable).
    with procs.deferred_interrupts():  # a Ctrl-C waits until it is registered, so it gets stopped
        coordinator = parts.prestart(
            settings.parts, "coordinator", ["--spec", spec_path(run.path), *early_flag], label="coordinator",
            log_path=os.path.join(run.path, "logs", "coordinator.log"),
            env={"WC_REDIS_URL": server.worker_url, **key.env()}, stdout=subprocess.PIPE)
    try:
        spec = write_spec(settings, keys, run.path, len(ranges), args.throttle,
                          parse_stream_crashes(args.crash, st.mappers, st.reducers), timed, logical)
        if early:  # it starts the reducers while this process starts Redis and fills the mappers' streams,
            # and gives the mappers their go once told those are ready (job.py; coordinator/streams.py)
            with procs.deferred_interrupts():  # a Ctrl-C now still finds it to stop
                coordinator.go(more=True)
        from wordcount.stream.job import run_job  # redis-py and the server, while the reducers start

        outcome = run_job(args, settings, keys, run.path, inputs, ranges, server, coordinator, key, spec,
                          logical, t0)
    finally:
        if coordinator.started:
            procs.stop(coordinator.proc, grace=10.0)  # done already unless the job failed before its end
        coordinator.cancel()  # a no-op once it ran
        trace.event(trace.RUN_END)
        run.close()
    return report(outcome, inputs, settings, args.verify)

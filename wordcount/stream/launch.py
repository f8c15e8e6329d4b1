"""`python client.py stream ...`: the streaming job (Lab 2) from the command line.

Validates flags and settings, puts the input files into one Redis stream per
mapper, starts the coordinator process (which starts the reducers and the
mappers), shows its status line, and at the end reads the reducers' final
checkpoints into the word table and reports exactly like the batch job.
Each run's frames are authenticated with a key made here (wordcount/stream/auth.py)
and given to the coordinator in its environment only; rejected frames are counted
in the run record and a summary line.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import select
import socket
import subprocess
import time
from typing import Sequence

import redis

import myrds
from wordcount import jobuser, parts, private, procs, rundirs, trace
from wordcount.cli import (
    report,
    settings_and_inputs,
    with_replay,
)
from wordcount.config import Settings, StreamSettings, to_json
from wordcount.console import StreamDisplay
from wordcount.errors import JobFailed, UserError
from wordcount.faults.flags import parse_logical, parse_stream_crashes, parse_timed
from wordcount.faults.schedules import ChaosPlan, KillSpec
from wordcount.ids import mapper, reducer
from wordcount.inputs import InputFile
from wordcount.keys import JobKeys, new_job_id
from wordcount.record import RunRecord
from wordcount.stream import auth, checkpoint
from wordcount.stream.admission import summary
from wordcount.splits import Range, split_inputs
from wordcount.stream.netflags import apply_net, describe, zombie_record
from wordcount.stream.cli import overrides, parse_args
from wordcount.stream.spec import JobSpec

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


# -- job setup ------------------------------------------------------------------------
def assign(ranges: list[Range], mappers: int) -> list[list[Range]]:
    """Largest ranges first, each to the mapper with the fewest bytes so far, so
    the ranges of one big file spread over all mappers."""
    shares: list[list[Range]] = [[] for _ in range(mappers)]
    load = [0] * mappers
    for r in sorted(ranges, key=lambda r: (-r.size, r.path, r.start)):
        k = load.index(min(load))
        shares[k].append(r)
        load[k] += r.size
    return shares


def enqueue(conn: redis.Redis, keys: JobKeys, inputs: list[InputFile], mappers: int, split_bytes: int) -> int:
    """Each mapper's ranges (wordcount/splits.py) into its stream; returns how many in all."""
    pipe = conn.pipeline(transaction=True)
    shares = assign(split_inputs(inputs, split_bytes), mappers)
    for idx, share in enumerate(shares):
        for r in sorted(share, key=lambda r: (r.path, r.start)):
            pipe.xadd(keys.mapper_stream(idx), r.fields())
    pipe.execute()
    return sum(map(len, shares))


def write_spec(args: argparse.Namespace, settings: Settings, keys: JobKeys, run_path: str,
               entries: int, timed: KillSpec | None, logical: ChaosPlan | None) -> str:
    st = settings.stream
    settings_path = os.path.join(run_path, "settings.json")
    private.write_file(settings_path, to_json(private.for_children(settings)))
    cp_dir = os.path.join(st.checkpoint_dir, keys.job) if st.checkpoint_dir else os.path.join(run_path, "checkpoints")
    private.make_dir(cp_dir)
    spec = JobSpec(job=keys.job, run_path=run_path, settings_path=settings_path,
                   checkpoint_dir=os.path.abspath(cp_dir), mappers=st.mappers, reducers=st.reducers,
                   total_files=entries, throttle_s=args.throttle,
                   crash=parse_stream_crashes(args.crash, st.mappers, st.reducers),
                   kill=timed.to_json() if timed else None, chaos=logical.to_json() if logical else None)
    path = os.path.join(run_path, "stream-job.json")
    spec.save(path)
    return path


# -- watching the coordinator ------------------------------------------------------------------
def watch(proc: subprocess.Popen) -> dict:
    """Show the coordinator's status lines until it exits; return its result."""
    display = StreamDisplay().start()
    result: dict | None = None
    buf = b""
    fd = proc.stdout.fileno()  # type: ignore[union-attr]
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                try:
                    doc = json.loads(line)
                except json.JSONDecodeError:
                    log.debug("ignored a non-JSON line from the coordinator: %r", line[:200])
                    continue
                if "status" in doc:
                    display.update(doc["status"])
                elif "result" in doc:
                    result = doc["result"]
    finally:
        display.close()
    proc.wait()
    if result is None:
        raise JobFailed(f"the coordinator exited with status {proc.returncode} without a result")
    return result


def merge_into(table: dict[str, int], counts: dict[str, int]) -> None:
    """Add `counts` to `table`. Reducers own disjoint words, so this is mostly a
    dict.update; words both hold (a swapped-in part may not partition) are summed."""
    both = table.keys() & counts.keys()
    sums = {w: table[w] + counts[w] for w in both}
    table.update(counts)
    table.update(sums)


def gather(spec: JobSpec, final_id: int) -> tuple[dict[str, int], list[str]]:
    """The table from the reducers' final snapshots; warnings from the mappers'."""
    table: dict[str, int] = {}
    warnings: set[str] = set()
    try:
        for i in range(spec.reducers):
            state = checkpoint.read(spec.checkpoint_dir, str(reducer(i)), final_id)
            if not state.get("final"):
                raise JobFailed(f"checkpoint {final_id} of {reducer(i)} is not a final checkpoint")
            merge_into(table, state["counts"])
        for i in range(spec.mappers):
            warnings.update(checkpoint.read(spec.checkpoint_dir, str(mapper(i)), final_id)["warnings"])
    except checkpoint.CheckpointError as exc:
        raise JobFailed(f"cannot read the final result: {exc}") from None
    return table, sorted(warnings)


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
    run_path = run.path
    t0 = time.perf_counter()
    trace.setup(os.path.join(run_path, "trace.jsonl"), "client")
    trace.event(trace.RUN_START, job=keys.job, lab=2, mappers=st.mappers, reducers=st.reducers,
                files=len(inputs), wall=time.time())
    server, conn, url = myrds.open_server(settings.redis_url, run_path, parts.resolve(settings.parts, "lua"),
                                          settings.redis_backend, settings.docker_image)
    url = jobuser.create(conn, url, keys.job, server)  # mappers get a user limited to this job's keys
    proc = None
    try:
        entries = enqueue(conn, keys, inputs, st.mappers, settings.split_bytes)
        spec_path = write_spec(args, settings, keys, run_path, entries, timed, logical)
        spec = JobSpec.load(spec_path)
        key = auth.Key.generate()
        with procs.deferred_interrupts():  # a Ctrl-C now still finds proc to stop
            proc = start_coordinator(settings, spec_path, {"WC_REDIS_URL": url, **key.env()}, run_path)
        result = watch(proc)
        if not result["ok"]:
            if result.get("user_error"):
                raise UserError(result["reason"])
            raise JobFailed(f"{result['reason']} (logs in {run_path}/logs)")
        table, warnings = gather(spec, result["final_checkpoint_id"])
        refused = jobuser.refused(conn) if server else {}
        elapsed = time.perf_counter() - t0
        trace.event(trace.JOB_DONE, elapsed_s=elapsed, checkpoints=result["checkpoints_completed"],
                    recoveries=len(result["recoveries"]))
        RunRecord(kind="stream", job=keys.job, elapsed_s=elapsed, files=len(inputs),
                  bytes=sum(f.size for f in inputs), run_path=run_path, trace=trace.path(),
                  chaos=chaos_record(logical, result.get("chaos")), mappers=st.mappers, reducers=st.reducers,
                  checkpoint_interval_s=st.checkpoint_interval_s, auth=key.secure,
                  rejected=result.get("rejected", {}), rejected_by=result.get("rejected_by", {}),
                  redis_refused=refused, net=settings.stream.net or None,
                  **zombie_record(result.get("zombies", [])),
                  **{k: result[k] for k in ("checkpoints_completed", "recoveries", "kills",
                                            "final_checkpoint_id", "recovery_id")},
                  ).write(run_path, args.record)
    finally:
        if proc is not None:
            procs.stop(proc, grace=10.0)
        _drop_streams(conn, keys, st.mappers)
        if server:
            server.stop()
        trace.event(trace.RUN_END)
        run.close()
    for line in filter(None, (result.get("rejected") and summary(result["rejected"]),
                              refused and jobuser.refused_line(refused))):
        print(line)  # an attack, or a part speaking another protocol: never silent
    return report(table, inputs, settings, warnings, elapsed, args.verify)


def chaos_record(plan: ChaosPlan | None, fired: list[dict] | None) -> dict | None:
    """The plan and the kills that fired (with what the coordinator saw then), for the run record.

    A kill the job never reached (it ended first) is named in a warning: with
    more data or --throttle it would have fired.
    """
    if plan is None:
        return None
    fired = fired or []
    if len(fired) < len(plan.kills):
        log.warning("chaos: %d of %d kills never fired (the job ended first): %s", len(plan.kills) - len(fired),
                    len(plan.kills), ", ".join(map(str, plan.kills[len(fired):])))
    return {**plan.to_json(), "fired": fired}


def start_coordinator(settings: Settings, spec_path: str, env: dict[str, str], run_path: str) -> subprocess.Popen:
    """The coordinator process (the reference, or a swapped-in part), its stdout a pipe to us.
    Secrets go in `env` (owner-only /proc/PID/environ), never in argv (world-readable)."""
    return parts.spawn(settings.parts, "coordinator", ["--spec", spec_path], label="coordinator",
                       log_path=os.path.join(run_path, "logs", "coordinator.log"), env=env,
                       stdout=subprocess.PIPE)


def _drop_streams(conn: redis.Redis, keys: JobKeys, mappers: int) -> None:
    """A shared server keeps nothing of a finished job."""
    try:
        conn.delete(*(keys.mapper_stream(i) for i in range(mappers)))
    except redis.RedisError as exc:
        log.debug("could not delete the job's streams: %s", exc)

"""The streaming job against its Redis server and coordinator, from the client's side.

Runs once `python client.py stream` (launch.py) has checked its flags,
written the job spec and given the coordinator its go (it was started warm,
wordcount/warm.py, with the mappers' Redis URL and the job key in its
environment; it starts the reducers now): find or start the server as
planned (wordcount/jobuser.py: the mappers' own Redis user is in its
configuration from the start), put each mapper's share of the input ranges
into its stream, tell the coordinator they are ready (it gives the mappers
their go then: coordinator/streams.py), show its status line until it ends,
then read the reducers' final checkpoints into the word table and write the
run record. This is the module that imports redis-py, so the client imports
it only after the coordinator is running.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import select
import subprocess
import time
from contextlib import contextmanager
from typing import Iterator

import redis

import myrds
from wordcount import jobuser, parts, procs, trace
from wordcount.cli import Outcome
from wordcount.config import Settings
from wordcount.console import StreamDisplay
from wordcount.errors import JobFailed, UserError
from wordcount.faults.schedules import ChaosPlan
from wordcount.ids import mapper, reducer
from wordcount.inputs import InputFile
from wordcount.keys import JobKeys
from wordcount.record import RunRecord
from wordcount.refusals import refused_line, refused_requests
from wordcount.splits import Range
from wordcount.stream import auth, checkpoint, finaltable
from wordcount.stream.netflags import zombie_record
from wordcount.stream.admission import summary
from wordcount.stream.spec import STREAMS_READY, JobSpec
from wordcount.table import Ordered

log = logging.getLogger("client")


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


def enqueue(conn: redis.Redis, keys: JobKeys, ranges: list[Range], mappers: int) -> int:
    """Each mapper's ranges (wordcount/splits.py) into its stream; returns how many in all."""
    pipe = conn.pipeline(transaction=True)
    shares = assign(ranges, mappers)
    for idx, share in enumerate(shares):
        for r in sorted(share, key=lambda r: (r.path, r.start)):
            pipe.xadd(keys.mapper_stream(idx), r.fields())
    pipe.execute()
    return sum(map(len, shares))


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


def gather(spec: JobSpec, final_id: int) -> tuple[Ordered | dict[str, int], list[str]]:
    """The table from the reducers' final snapshots; warnings from the mappers'.
    Reference reducers leave their words ordered ("table", finaltable.py):
    when every one did and no word is in two of them, the table is those
    parts merged; otherwise the parts are summed as word -> count tables."""
    warnings: set[str] = set()
    try:
        states = [checkpoint.read(spec.checkpoint_dir, str(reducer(i)), final_id) for i in range(spec.reducers)]
        for i, state in enumerate(states):
            if not state.get("final"):
                raise JobFailed(f"checkpoint {final_id} of {reducer(i)} is not a final checkpoint")
        for i in range(spec.mappers):
            warnings.update(checkpoint.read(spec.checkpoint_dir, str(mapper(i)), final_id)["warnings"])
    except checkpoint.CheckpointError as exc:
        raise JobFailed(f"cannot read the final result: {exc}") from None
    names = [f"checkpoint {final_id} of {reducer(i)}" for i in range(spec.reducers)]
    parts = [_part(state, name) for state, name in zip(states, names)]
    if all(isinstance(part, list) for part in parts):  # every reducer left its table in order
        ordered = finaltable.merged(parts)
        if ordered is not None:
            return ordered, sorted(warnings)
    table: dict[str, int] = {}
    for part, name in zip(parts, names):
        if not isinstance(part, dict):
            with _bad_table(name):
                part = finaltable.counts_of(part)
        merge_into(table, part)
    return table, sorted(warnings)


@contextmanager
def _bad_table(what: str) -> Iterator[None]:
    """A final table that does not read back fails the job, naming its file."""
    try:
        yield
    except ValueError as exc:
        raise JobFailed(f"cannot read the final result: {what} has a bad table: {exc}") from None


def _part(state: dict, what: str) -> dict[str, int] | finaltable.Groups:
    """A final snapshot's share of the table: its "counts", or its "table"
    checked and split into (count, words) groups (decoded once, whichever way
    the parts are then put together)."""
    if "counts" not in state:
        with _bad_table(what):
            return finaltable.decode(state.get("table"))
    if not isinstance(state["counts"], dict):
        raise JobFailed(f"cannot read the final result: {what} has no counts")
    return state["counts"]


# -- the job -------------------------------------------------------------------------------
def run_job(args: argparse.Namespace, settings: Settings, keys: JobKeys, run_path: str, inputs: list[InputFile],
            ranges: list[Range], server_plan: jobuser.ServerPlan, coordinator: parts.Warm, key: auth.Key,
            spec: JobSpec, logical: ChaosPlan | None, t0: float) -> Outcome:
    """The whole job, the coordinator started (running, or waiting for its go
    if it is a swapped-in one); it (and with it every worker) and the server
    are stopped on every way out."""
    st = settings.stream
    proc = coordinator.proc
    server = conn = None
    try:
        server, conn, _ = myrds.open_server(settings.redis_url, run_path, parts.resolve(settings.parts, "lua"),
                                            settings.redis_backend, settings.docker_image, server_plan.identity,
                                            server_plan.users)
        trace.event(trace.ENQUEUED, files=enqueue(conn, keys, ranges, st.mappers))
        if coordinator.started:
            coordinator.tell(STREAMS_READY)  # the mappers may start
        else:  # a swapped-in coordinator: its go once everything is ready, as the course contract says
            with procs.deferred_interrupts():  # a Ctrl-C now still finds it to stop
                coordinator.go()
        result = watch(proc)
        if not result["ok"]:
            if result.get("user_error"):
                raise UserError(result["reason"])
            raise JobFailed(f"{result['reason']} (logs in {run_path}/logs)")
        table, warnings = gather(spec, result["final_checkpoint_id"])
        refused = refused_requests(conn) if server else {}
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
        rejected = result.get("rejected", {})
        notes = [line for line in (rejected and summary(rejected), refused and refused_line(refused))
                 if line]
        return Outcome(table, warnings, elapsed, notes)
    finally:
        procs.stop(proc, grace=10.0)
        if conn is not None:
            _drop_streams(conn, keys, st.mappers)
        if server:
            server.stop()


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


def _drop_streams(conn: redis.Redis, keys: JobKeys, mappers: int) -> None:
    """A shared server keeps nothing of a finished job."""
    try:
        conn.delete(*(keys.mapper_stream(i) for i in range(mappers)))
    except redis.RedisError as exc:
        log.debug("could not delete the job's streams: %s", exc)

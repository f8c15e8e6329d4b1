"""The batch job against its Redis server, from the client's side.

Runs once client.py has started the first workers' interpreters (warm:
starter.py): find or start the server (as planned: port, password and the
workers' own Redis user, wordcount/jobuser.py), put one stream entry per
range and snapshot, hand the workers their go, supervise them
(supervisor.py), then read the table back and write the run record. This
is the module that imports redis-py, so the client imports it only after
those workers are starting.
"""
from __future__ import annotations

import logging
import time

import myrds
from wordcount import jobuser, parts, trace
from wordcount.batch.claims import STOLEN_LIVE
from wordcount.batch.jobstate import enqueue, expire, read_results
from wordcount.batch.starter import WorkerStarter
from wordcount.batch.supervisor import Supervisor, redis_pid
from wordcount.cli import Outcome
from wordcount.config import Settings
from wordcount.faults.plans import BatchPlan
from wordcount.inputs import InputFile
from wordcount.keys import JobKeys
from wordcount.record import RunRecord
from wordcount.refusals import refused_line, refused_requests
from wordcount.splits import Range

log = logging.getLogger("client")


def run_job(settings: Settings, keys: JobKeys, run_path: str, inputs: list[InputFile], ranges: list[Range],
            server_plan: jobuser.ServerPlan, starter: WorkerStarter, plan: BatchPlan | None,
            record_path: str | None, t0: float) -> Outcome:
    """The whole job; the server and the workers are stopped on every way out."""
    server, conn, _ = myrds.open_server(settings.redis_url, run_path, parts.resolve(settings.parts, "lua"),
                                        settings.redis_backend, settings.docker_image, server_plan.identity,
                                        server_plan.users)
    if server:
        trace.event(trace.SPAWN, target="redis", target_pid=redis_pid(server))
    sup = None
    try:
        entries, save_asked = enqueue(conn, keys, [r.fields() for r in ranges], private=server is not None)
        total_bytes = sum(f.size for f in inputs)
        sup = Supervisor(settings, keys, run_path, conn, server, starter, entries, total_bytes,
                         list(plan.redis_kills_after) if plan else [],
                         save_asked=None if save_asked is None else (save_asked, time.monotonic()))
        sup.start_all()
        sup.run()
        table, warnings = read_results(sup.conn, keys)
        refused = refused_requests(sup.conn) if server else {}
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
                  ).write(run_path, record_path)
        # someone tried passwords, or a worker left its keys
        return Outcome(table, warnings, elapsed, [refused_line(refused)] if refused else [])
    finally:
        if sup:
            sup.stop_workers()
        if server:
            server.stop()
        else:
            expire(conn, keys)

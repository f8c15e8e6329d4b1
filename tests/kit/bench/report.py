"""The benchmark's summary: one row per configuration, printed as a table and saved as JSON.

What a row reads from a job's run record is named by RunRecord fields
(elapsed_s, recoveries, trace); see docs/record.md.
"""
from __future__ import annotations

import json
import os
import platform
from typing import Any

from kit.bench.measure import Bench, Run

import myrds
from wordcount import trace
from wordcount.record import RunRecord

TARGET_WORKERS = 2
TARGET_RATIO = 2.0  # the issue's target: 2 workers take at most 2x the serial time


def pick(runs: list[Run], stat: str) -> Run:
    """The median (upper middle) or the fastest of the successful runs, else the first."""
    good = sorted((r for r in runs if r.ok), key=lambda r: r.seconds)
    if not good:
        return runs[0]
    return good[0] if stat == "best" else good[len(good) // 2]


def recoveries(record: RunRecord | None) -> list[float]:
    """Each recovery's resume_after_s: from the kill until the job made progress again (docs/record.md)."""
    items = record.recoveries if record and record.recoveries else []
    return [float(i["resume_after_s"]) for i in items if isinstance(i.get("resume_after_s"), (int, float))]


def recovery_note(record: RunRecord | None) -> str:
    """'recovery 0.27s (detected after 0.02s)' for each recovery of a stream run."""
    items = [i for i in (record.recoveries if record and record.recoveries else [])
             if isinstance(i.get("resume_after_s"), (int, float))]
    if not items:
        return "recovery: none recorded (did the kill happen before the job ended?)"
    parts = []
    for item in items:
        detected = item.get("detected_after_s")
        parts.append(f"{item['resume_after_s']:.2f}s"
                     + (f" (detected after {detected:.2f}s)" if isinstance(detected, (int, float)) else ""))
    return "recovery " + ", ".join(parts)


def trace_phases(record: RunRecord | None) -> dict[str, float] | None:
    """Where a batch run's time went, from its trace: start-up, work, imbalance, tail.

    start = run start to the first file read by a worker (Redis, enqueue, the
    first snapshot, worker start-up); work = first read to last commit;
    imbalance = last commit minus the earliest moment any worker ran out of work
    (its last commit, or its start if it never committed); tail = last commit to job done (exit
    detection, reading the table).
    """
    if record is None or not record.trace:
        return None
    try:
        events = trace.read_trace(record.trace)
    except (OSError, ValueError):
        return None
    first = {e["ev"]: e["t"] for e in reversed(events)}
    reads = [e["t"] for e in events if e["ev"] == trace.READ]
    last_active: dict[str, float] = {}  # worker -> its last commit (or its start if none)
    for e in events:
        if e["proc"] != "client" and (e["ev"] == trace.COMMIT or e["ev"] == trace.START):
            last_active[e["proc"]] = e["t"]
    commits = [e["t"] for e in events if e["ev"] == trace.COMMIT]
    if not reads or not commits or trace.RUN_START not in first or trace.JOB_DONE not in first:
        return None
    end = max(commits)
    return {"start_s": min(reads) - first[trace.RUN_START], "work_s": end - min(reads),
            "imbalance_s": end - min(last_active.values()), "tail_s": first[trace.JOB_DONE] - end}


def redis_cell(run: Run, key: str) -> str:
    stat = run.redis.get("commandstats", {}).get(key)
    return f"{stat['calls']} x {stat['usec_per_call']:.1f}us" if stat else "-"


def summary_rows(runs: dict[str, list[Run]], serial_s: float, files: int, stat: str) -> list[dict]:
    rows = []
    for name, group in runs.items():
        run = pick(group, stat)
        commands = run.redis.get("commands")
        note = run.error or ""
        if "kill" in name and run.ok:
            note = recovery_note(run.record)
        rows.append({
            "run": name, "seconds": run.seconds, "ratio": run.seconds / serial_s if serial_s else 0.0,
            "ok": run.ok, "job_s": run.record.elapsed_s if run.record else None, "cpu_s": run.cpu_s,
            "redis_cpu_s": run.redis.get("redis_cpu_s"),
            "commands_per_file": commands / files if commands and files else None,
            "fcall": redis_cell(run, "fcall"), "hincrby": redis_cell(run, "hincrby"),
            "check": run.check, "load1": run.load1, "recoveries_s": recoveries(run.record), "note": note,
            "phases": trace_phases(run.record) if name.startswith("batch") else None,
            "times": [round(r.seconds, 3) for r in group],
        })
    return rows


def fmt(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def print_table(rows: list[dict], header: str) -> None:
    print(header)
    cols = f"{'run':<26}{'time s':>8}{'x serial':>10}{'job s':>8}{'cpu s':>8}{'redis cpu':>10}" \
           f"{'cmds/file':>11}  {'FCALL':<18}{'HINCRBY':<18}{'load':>5}  check"
    print(cols)
    print("-" * len(cols))
    for r in rows:
        if not r["ok"]:
            print(f"{r['run']:<26}  failed: {r['note']}")
            continue
        print(f"{r['run']:<26}{r['seconds']:>8.2f}{r['ratio']:>9.2f}x{fmt(r['job_s']):>8}{fmt(r['cpu_s']):>8}"
              f"{fmt(r['redis_cpu_s']):>10}{fmt(r['commands_per_file'], '.0f'):>11}  {r['fcall']:<18}"
              f"{r['hincrby']:<18}{r['load1']:>5.2f}  {r['check']}"
              + (f"  {r['note']}" if r["note"] else ""))


def print_phases(rows: list[dict]) -> None:
    """The trace-derived split of each batch run (skipped if runs are not traced)."""
    traced = [r for r in rows if r.get("phases")]
    if not traced:
        return
    print(f"\n{'batch phases (from trace)':<26}{'start':>8}{'work':>8}{'imbal.':>8}{'tail':>8}   seconds")
    for r in traced:
        ph = r["phases"]
        print(f"{r['run']:<26}{ph['start_s']:>8.2f}{ph['work_s']:>8.2f}{ph['imbalance_s']:>8.2f}{ph['tail_s']:>8.2f}")


def target_line(rows: list[dict]) -> str:
    name = f"batch {TARGET_WORKERS} workers"
    row = next((r for r in rows if r["run"] == name and r["ok"]), None)
    if row is None:
        return f"target: no successful '{name}' run to compare"
    verdict = "PASS" if row["ratio"] <= TARGET_RATIO else "MISS"
    return f"target: {name} <= {TARGET_RATIO:g}x serial: {verdict} ({row['ratio']:.2f}x)"


def machine() -> dict[str, Any]:
    return {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "redis": myrds.find_binary()[1]}


def save_json(path: str, bench: Bench, rows: list[dict], runs: dict[str, list[Run]],
              load_start: tuple, load_end: tuple) -> None:
    doc = {"machine": machine(), "load_start": load_start, "load_end": load_end,
           "data": {"path": str(bench.data), "files": bench.files, "bytes": bench.bytes},
           "options": {k: v for k, v in vars(bench.args).items() if k != "log_level"},
           "summary": rows, "target": target_line(rows), "stream_unavailable": bench.stream_error,
           "runs": {name: [r.to_json() for r in group] for name, group in runs.items()}}
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2, default=str)

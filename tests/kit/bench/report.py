"""The benchmark's summary: one row per configuration, printed as a table and saved as JSON.

What a row reads from a job's run record is named by RunRecord fields
(elapsed_s, recoveries, trace, stolen, auth); see docs/record.md. Peak memory
is the VmHWM sampled by kit.bench.rss, in MB (10^6 bytes) like the corpus.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
from typing import Any

from kit.bench.measure import Bench, Run
from kit.bench.rounds import NO_AUTH, STREAM

import myrds
from wordcount import trace
from wordcount.record import RunRecord

TARGET_WORKERS = 2
TARGET_RATIO = 2.0  # the loosest target (Lab 1 on many small files); the scaling plot draws it
# The issue's targets as ratios to the serial count, each for one kind of corpus (the benchmark cannot
# tell which kind it was given: the line for the corpus at hand is the one that applies).
TARGETS = (("mixed corpus", f"batch {TARGET_WORKERS} workers", 1.2),
           ("mixed corpus", "stream 2x2 ckpt 0.5s", 1.0),
           ("many small files", f"batch {TARGET_WORKERS} workers", TARGET_RATIO),
           ("one huge file", f"batch {TARGET_WORKERS} workers", 1.0))


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


def stolen_live(record: RunRecord | None) -> int | None:
    """Entries another worker took from a live (slow, not dead) worker: a field newer records have;
    read from `extra` when this checkout's RunRecord does not know it yet."""
    if record is None:
        return None
    value = getattr(record, "stolen_live", None)
    return value if value is not None else record.extra.get("stolen_live")


def mb(kb: int | None) -> float | None:
    return None if kb is None else kb * 1024 / 1e6


def redis_cell(run: Run, key: str) -> str:
    stat = run.redis.get("commandstats", {}).get(key)
    return f"{stat['calls']} x {stat['usec_per_call']:.1f}us" if stat else "-"


def same_round_ratio(runs: dict[str, list[Run]], name: str) -> tuple[float | None, str]:
    """Median of run/serial over the rounds where the run succeeded (each run against the serial
    count of its own round, so a load spike moves both sides of a ratio); 'MISMATCH' if any round's
    table differed, 'failed' if no round succeeded, else 'OK'."""
    pairs = list(zip(runs["serial"], runs.get(name, [])))
    ratios = [run.seconds / serial.seconds for serial, run in pairs if run.ok and serial.seconds > 0]
    if any(run.check.startswith("MISMATCH") for _, run in pairs):
        return (statistics.median(ratios) if ratios else None), "MISMATCH"
    return (statistics.median(ratios), "OK") if ratios else (None, "failed")


def summary_rows(runs: dict[str, list[Run]], files: int, stat: str) -> list[dict]:
    rows = []
    for name, group in runs.items():
        run = pick(group, stat)
        ratio = 1.0 if name == "serial" else same_round_ratio(runs, name)[0] or 0.0
        commands = run.redis.get("commands")
        note = run.error or ""
        if "kill" in name and run.ok:
            note = recovery_note(run.record)
        rows.append({
            "run": name, "seconds": run.seconds, "ratio": ratio,
            "ok": run.ok, "job_s": run.record.elapsed_s if run.record else None, "cpu_s": run.cpu_s,
            "redis_cpu_s": run.redis.get("redis_cpu_s"),
            "commands_per_file": commands / files if commands and files else None,
            "fcall": redis_cell(run, "fcall"), "hincrby": redis_cell(run, "hincrby"),
            "check": run.check, "load1": run.load1, "recoveries_s": recoveries(run.record), "note": note,
            "phases": trace_phases(run.record) if name.startswith("batch") else None,
            "times": [round(r.seconds, 3) for r in group],
            "peak_mb": mb(run.peak_kb), "rss_mb": {role: mb(kb) for role, kb in run.rss_kb.items()},
            "batch": name.startswith("batch"), "stolen": run.record.stolen if run.record else None,
            "stolen_live": stolen_live(run.record), "auth": run.record.auth if run.record else None,
        })
    return rows


def fmt(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def count_cell(row: dict, key: str) -> str:
    """A batch row's count ('n/a' when its record does not have the field); '-' for other rows."""
    if not row["batch"]:
        return "-"
    return "n/a" if row[key] is None else str(row[key])


def print_table(rows: list[dict], header: str) -> None:
    print(header)
    cols = f"{'run':<26}{'time s':>8}{'x serial':>10}{'job s':>8}{'cpu s':>8}{'peak MB':>9}{'redis cpu':>10}" \
           f"{'cmds/file':>11}  {'FCALL':<18}{'HINCRBY':<18}{'stolen':>7}{'live':>6}{'load':>6}  check"
    print(cols)
    print("-" * len(cols))
    for r in rows:
        if not r["ok"]:
            print(f"{r['run']:<26}  failed: {r['note']}")
            continue
        print(f"{r['run']:<26}{r['seconds']:>8.2f}{r['ratio']:>9.2f}x{fmt(r['job_s']):>8}{fmt(r['cpu_s']):>8}"
              f"{fmt(r['peak_mb'], '.0f'):>9}{fmt(r['redis_cpu_s']):>10}{fmt(r['commands_per_file'], '.0f'):>11}"
              f"  {r['fcall']:<18}{r['hincrby']:<18}{count_cell(r, 'stolen'):>7}{count_cell(r, 'stolen_live'):>6}"
              f"{r['load1']:>6.2f}  {r['check']}" + (f"  {r['note']}" if r["note"] else ""))


def print_rss(rows: list[dict]) -> None:
    """Each run's peak over its processes, and each role's peak: where the memory goes."""
    print(f"\n{'peak RSS (VmHWM, MB)':<26}{'max':>6}  per process")
    for r in rows:
        if r["rss_mb"]:
            roles = ", ".join(f"{role} {value:.0f}" for role, value in r["rss_mb"].items())
            print(f"{r['run']:<26}{fmt(r['peak_mb'], '.0f'):>6}  {roles}")


def auth_line(rows: list[dict]) -> str:
    """What frame authentication (HMAC) costs Lab 2: the same stream job with and without it."""
    with_hmac, without = (next((r for r in rows if r["run"] == c.name and r["ok"]), None) for c in (STREAM, NO_AUTH))
    if with_hmac is None or without is None:
        return f"auth: no successful '{STREAM.name}' and '{NO_AUTH.name}' runs to compare"
    line = (f"auth: stream {with_hmac['ratio']:.2f}x serial with HMAC, {without['ratio']:.2f}x without: "
            f"overhead {with_hmac['ratio'] / without['ratio']:.3f}x")
    if with_hmac["auth"] is not True or without["auth"] is not False:  # the records say what really ran
        line += (f" (!!! run records say auth={with_hmac['auth']} and auth={without['auth']}; "
                 "expected True and False)")
    return line


def print_phases(rows: list[dict]) -> None:
    """The trace-derived split of each batch run (skipped if runs are not traced)."""
    traced = [r for r in rows if r.get("phases")]
    if not traced:
        return
    print(f"\n{'batch phases (from trace)':<26}{'start':>8}{'work':>8}{'imbal.':>8}{'tail':>8}   seconds")
    for r in traced:
        ph = r["phases"]
        print(f"{r['run']:<26}{ph['start_s']:>8.2f}{ph['work_s']:>8.2f}{ph['imbalance_s']:>8.2f}{ph['tail_s']:>8.2f}")


def target_lines(rows: list[dict]) -> list[str]:
    """Each target's verdict on this corpus (see TARGETS: the one for its kind applies)."""
    lines = []
    for corpus, name, limit in TARGETS:
        row = next((r for r in rows if r["run"] == name and r["ok"]), None)
        if row is None:
            lines.append(f"target ({corpus}): no successful '{name}' run to compare")
            continue
        verdict = "PASS" if row["ratio"] <= limit else "MISS"
        lines.append(f"target ({corpus}): {name} <= {limit:g}x serial: {verdict} ({row['ratio']:.2f}x)")
    return lines


def machine() -> dict[str, Any]:
    return {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "redis": myrds.find_binary()[1]}


def save_json(path: str, bench: Bench, rows: list[dict], runs: dict[str, list[Run]],
              load_start: tuple, load_end: tuple, scaling: list[dict], small: dict) -> None:
    doc = {"machine": machine(), "load_start": load_start, "load_end": load_end,
           "data": {"path": str(bench.data), "files": bench.files, "bytes": bench.bytes},
           "options": {k: v for k, v in vars(bench.args).items() if k != "log_level"},
           "summary": rows, "targets": target_lines(rows), "small_job": small, "stream_unavailable": bench.stream_error,
           "auth": None if bench.stream_error or bench.args.no_stream else auth_line(rows), "scaling": scaling,
           "runs": {name: [r.to_json() for r in group] for name, group in runs.items()}}
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2, default=str)

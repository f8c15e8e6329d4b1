"""One rubric item: its isolated directory and config, its command, the run, the verdict.

Isolation: each item gets <out>/items/<id>/ holding its own config file
(run_dir, output, checkpoints inside that directory; ports 0 = pick free; no
shared Redis URL, so the client starts a private Redis), and its client runs
in its own session. The command the grader runs is exactly the replay command
written into the report (with `python` being this interpreter), run from the
repository root.
"""
from __future__ import annotations

import importlib.util
import json
import logging
import re
import shlex
import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kit.grading import runner
from kit.grading.budgets import judge_budgets
from kit.grading.checks import CHECKS
from kit.grading.data import Corpora
from kit.grading.rubric import Expectation, Item, Lab, Rubric
from kit.run import Finished, last_error_line
from wordcount.config import SECTIONS, Settings, load_settings
from wordcount.errors import UserError
from wordcount.record import RecordError, RunRecord
from wordcount.table import diff_report, read_table
from wordcount.trace import read_trace

log = logging.getLogger("grade")

# Why a failed expectation matters, in the words the report shows.
HINTS = {
    "stolen": "no entry was stolen: the scenario did not happen, or the worker does not add its "
              "XAUTOCLAIMed entries to the progress field 'stolen'",
    "replacements": "the client had to start replacement workers: workers exited while entries "
                    "were still pending (or undelivered)",
    "redis_restarts": "Redis was never restarted: the job ended before the first kill "
                      "(use more data or a shorter --kill-redis-every)",
    "kills": "fewer kills than planned: the job ended too soon (use more data, a shorter --every or --throttle)",
    "trace.kill": "no process was killed: the job ended before the first kill (use more data or a shorter --every)",
    "zombies_exited": "the cut-off worker did not exit by itself: it must stop once the coordinator answers its "
                      "heartbeat with 'superseded', or once it has heard nothing for stream.lost_contact_s",
    "zombies_stopped": "a superseded worker was still running at the end and had to be stopped",
    "check.unexplained_exits": "a worker exited with a non-zero status that no injected fault explains (it gave up, "
                               "e.g. on a Redis or socket error it should have retried, or died of an exception); "
                               "the table may still be right because a replacement finished its work",
    "check.repeated_work": "an entry was read or committed again with no steal or Redis rollback to explain it "
                           "(re-reading one's own pending entries, or a commit that applies an entry twice)",
    "checkpoints_completed": "no checkpoint was ever completed (not even the final one): a worker that never "
                             "acks its snapshot, or a coordinator that never counts the acks, still ends exact "
                             "without failures, since a recovery to checkpoint 0 recounts everything",
    "progress_mismatch": "the progress hash (files, bytes) does not add up to the inputs at the end: the commit "
                         "function must add each committed entry's range to it exactly once",
    "warnings": "the job reported input warnings on a corpus that has no odd files: the commit function stores "
                "something other than the worker's warning strings",
    "stolen_live": "entries were stolen from a worker that was still counting them: it must keep its pending "
                   "entries fresh (wc_touch after every chunk) while it counts",
    "check.stale_completions": "the coordinator declared a checkpoint complete without an ack from every worker "
                               "under the current recovery id: an ack from before a recovery (or of an abandoned "
                               "checkpoint with the same id) was counted, or a duplicated ack stood in for a worker that never acked",
}


@dataclass
class Outcome:
    """What the report says about one item."""

    id: str
    title: str
    max_points: float
    points: float = 0.0
    status: str = "fail"  # pass | fail | skipped
    duration_s: float = 0.0
    seed: int = 0
    command: str = ""
    exit_code: int | None = None
    reasons: list[str] = field(default_factory=list)
    diff: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    logs: dict[str, str] = field(default_factory=dict)
    timeline: str | None = None
    item_dir: str = ""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Context:
    """What every item of one grading run shares."""

    rubric: Rubric
    lab: Lab
    seed: int
    out: Path
    corpora: Corpora
    base: dict[str, Any]  # effective settings of --config, as a dict
    parts: dict[str, str]  # --part NAME -> absolute path
    timeout_scale: float = 1.0


@dataclass
class Prepared:
    item: Item
    dir: Path
    config: Path
    data: Path
    settings: Settings
    argv: list[str]  # the replay command, starting with "python"

    @property
    def command(self) -> str:
        return shlex.join(self.argv)


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """Settings on top of settings; the 'batch' and 'stream' sections merge key by key."""
    out = {**base, **{k: v for k, v in top.items() if k not in SECTIONS}}
    for section in SECTIONS:
        if section in top:
            out[section] = {**base.get(section, {}), **top[section]}
    return out


def item_config(ctx: Context, item: Item, directory: Path, data: Path) -> dict[str, Any]:
    """The configured settings, cleared of anything shared or injected, plus the rubric's."""
    isolated = _merge(ctx.base, {
        "redis_url": None, "batch": {"crash": {}, "kill_redis_every_s": 0.0},
        "stream": {"coordinator_port": 0, "reducer_ports": [], "checkpoint_dir": ""},
    })
    merged = _merge(_merge(isolated, ctx.lab.settings), item.settings)
    return {**merged, "data_path": str(data), "run_dir": str(directory / "run"),
            "output": str(directory / "wordcount.tsv")}


def prepare(ctx: Context, item: Item) -> Prepared:
    """Fresh item directory, config file and command; settings mistakes fail here, before any run."""
    directory = ctx.out / "items" / item.id
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    data = ctx.corpora.path(ctx.rubric.corpora[item.corpus])
    config = directory / "config.json"
    config.write_text(json.dumps(item_config(ctx, item, directory, data), indent=2, ensure_ascii=False),
                      encoding="utf-8")
    try:
        settings = load_settings(str(config), {"parts": ctx.parts or None})
    except UserError as exc:
        raise UserError(f"rubric {ctx.rubric.path}: lab {ctx.lab.number} item {item.id!r}: {exc}") from None
    args = [a.replace("{seed}", str(ctx.seed)) for a in item.args]
    argv = ["python", "client.py", *args, "--config", str(config), "--data", str(data),
            "--record", str(directory / "record.json"), "--verify"]
    for name, path in sorted(ctx.parts.items()):
        argv += ["--part", f"{name}={path}"]
    return Prepared(item, directory, config, data, settings, argv)


# -- the verdict ---------------------------------------------------------------------
def _read_record(path: Path) -> RunRecord:
    """The item's run record; an empty one (every field None) if the client wrote none."""
    try:
        return RunRecord.read(path)
    except (OSError, RecordError):
        return RunRecord()


def _job_dirs(prep: Prepared, record: RunRecord) -> list[Path]:
    """The run directory of the job (from the record), else every job the client left."""
    if record.run_path and Path(record.run_path).is_dir():
        return [Path(record.run_path)]
    run_dir = Path(prep.settings.run_dir)
    return sorted(p for p in run_dir.iterdir() if p.is_dir()) if run_dir.is_dir() else []


def _trace_path(prep: Prepared, record: RunRecord) -> Path | None:
    candidates = [Path(record.trace)] if record.trace else []
    candidates += [d / "trace.jsonl" for d in _job_dirs(prep, record)]
    return next((p for p in candidates if p.is_file()), None)


def _trace_value(events: list[dict[str, Any]], field: str) -> int | None:
    """`trace.<event>`: how many such events; `check.<name>`: violations found by that check."""
    kind, name = field.split(".", 1)
    if kind == "trace":
        return sum(1 for e in events if e.get("ev") == name)
    return CHECKS[name](events)


def check_expectation(exp: Expectation, record: RunRecord, events: list[dict[str, Any]] | None,
                      out: Outcome) -> None:
    """One `expect` entry, against the run record or the trace's `events` (None: the run left no trace)."""
    if exp.field.startswith(("trace.", "check.")):
        actual: Any = _trace_value(events, exp.field) if events is not None else None
        if actual is None:
            why = "the run left no trace file" if events is None else "its trace lacks the events it needs"
            out.notes.append(f"{exp} not checked: {why}")
            return
    else:
        actual = record.number(exp.field)
    if not isinstance(actual, (int, float)) or isinstance(actual, bool):
        out.reasons.append(f"expected {exp}, but the run record has no number '{exp.field}'")
        return
    out.details[exp.field] = actual
    if not exp.holds(actual):
        hint = HINTS.get(exp.field, "")
        out.reasons.append(f"expected {exp}, got {actual:g}" + (f": {hint}" if hint else ""))


def _last_error(client_log: Path) -> str:
    """The client's own explanation of its failure (kit.run.last_error_line of its output)."""
    try:
        return last_error_line(client_log.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return ""


def judge(ctx: Context, prep: Prepared, done: Finished, expected: dict[str, int], out: Outcome,
          serial_s: float = 0.0) -> RunRecord:
    """Fill in reasons (empty = pass): the table first, then the exit status, then expectations.

    Returns the run record.
    """
    item = prep.item
    out.exit_code = done.exit_code
    record = _read_record(prep.dir / "record.json")
    output = Path(prep.settings.output)
    if done.timed_out:
        out.reasons.append(f"did not finish within {item.timeout_s * ctx.timeout_scale:.0f}s "
                           "(killed, with every process it started)")
        return record
    if output.is_file():
        out.diff = diff_report(expected, read_table(str(output)))
        if out.diff:
            head = re.sub(r"; first \d+:$", "", out.diff.splitlines()[0])
            out.reasons.append(f"the word table differs from the serial count: {head}")
    if done.exit_code != 0 and not (out.diff and done.exit_code == 1):  # exit 1 = --verify saw that diff
        out.reasons.append(f"client exited {done.exit_code}: {_last_error(prep.dir / 'client.log')}")
    elif not output.is_file():
        out.reasons.append(f"the client wrote no output table ({output})")
    if done.exit_code == 0:
        trace = _trace_path(prep, record)
        events = read_trace(trace) if trace is not None else None  # read once: every check and budget uses it
        for exp in item.expect:
            check_expectation(exp, record, events, out)
        judge_budgets(item, done, record, events, serial_s, ctx.timeout_scale, out)
    for key in ("elapsed_s", "stolen", "redis_restarts", "replacements", "kills", "checkpoints_completed", "job"):
        value = getattr(record, key)
        if value is not None and value != "":
            out.details.setdefault(key, round(value, 2) if isinstance(value, float) else value)
    return record


def judge_speed(item: Item, record: RunRecord, serial_s: float, out: Outcome) -> None:
    elapsed = record.number("elapsed_s")
    if not isinstance(elapsed, (int, float)):
        out.reasons.append("the run record has no elapsed_s: cannot measure speed")
        return
    ratio = elapsed / max(serial_s, 1e-9)
    out.details.update(serial_s=round(serial_s, 3), ratio=round(ratio, 2), max_ratio=item.max_ratio)
    if ratio > item.max_ratio:
        out.reasons.append(f"too slow: the job took {elapsed:.2f}s, {ratio:.2f}x the serial count's "
                           f"{serial_s:.2f}s (allowed: {item.max_ratio:g}x)")


# -- evidence for failures ---------------------------------------------------------------
def tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "(unreadable)"
    return "\n".join(text[-lines:]) if text else "(empty)"


def collect_logs(prep: Prepared, record: RunRecord, lines: int) -> dict[str, str]:
    """The tail of the client's output and of every process log the job left."""
    logs = {"client": tail(prep.dir / "client.log", lines)}
    jobs = _job_dirs(prep, record)
    for job in jobs:
        prefix = f"{job.name}/" if len(jobs) > 1 else ""
        for path in sorted((job / "logs").glob("*.log")):
            logs[prefix + path.stem] = tail(path, lines)
        server = job / "redis" / "server.log"
        if server.is_file():
            logs[prefix + "redis"] = tail(server, lines)
    return logs


def render_timeline(prep: Prepared, record: RunRecord) -> str | None:
    """<item dir>/timeline.png from the run's trace, if both the trace and the renderer exist."""
    trace = _trace_path(prep, record)
    if trace is None or importlib.util.find_spec("wordcount.timeline") is None:
        return None
    png = prep.dir / "timeline.png"
    code, output = runner.quick([sys.executable, "-m", "wordcount.timeline", str(trace), "--png", str(png)],
                                timeout_s=120)
    if code != 0 or not png.is_file():
        log.info("timeline for %s not drawn: %s", prep.item.id, output.strip()[-300:])
        return None
    return str(png)


# -- one item ------------------------------------------------------------------------------
def run_item(ctx: Context, prep: Prepared) -> Outcome:
    """Run one prepared item and judge it against the serial count."""
    item = prep.item
    out = Outcome(item.id, item.title, item.points, seed=ctx.seed, command=prep.command, item_dir=str(prep.dir))
    ctx.corpora.directory(ctx.rubric.corpora[item.corpus])
    expected = ctx.corpora.expected(prep.data, prep.settings, retime=2 if item.kind == "speed" else 0)
    log.info("item %s: %s", item.id, prep.command)
    done = runner.run_client(prep.argv[1:], prep.dir / "client.log", item.timeout_s * ctx.timeout_scale)
    out.duration_s = round(done.duration_s, 2)
    if done.cpu_s is not None:
        out.details["cpu_s"] = round(done.cpu_s, 2)
    record = judge(ctx, prep, done, expected.table, out, expected.serial_s)
    if item.kind == "speed" and not out.reasons:
        judge_speed(item, record, expected.serial_s, out)
    if out.reasons:
        out.logs = collect_logs(prep, record, ctx.rubric.log_tail_lines)
        out.timeline = render_timeline(prep, record)
    else:
        out.status, out.points = "pass", item.points
    return out

"""The grader's report as Gradescope's results.json (its "Autograder Specifications").

One converter for both users: `tests/grade.py --format gradescope` (any
grading run) and the Gradescope autograder (`tests/gradescope_run.py`, what
the zip's run_autograder runs). Each rubric item becomes one entry of
`tests` with the item's points as `max_score`, so the student sees the same
verdicts, reasons, first differing words and replay command as the report.
An item the run never reached (the time limit ran out, the submission could
not be graded at all) still gets its entry, with 0 points and the reason,
so the list always matches the rubric.

Every text field is declared `"text"`: outputs quote the student's own logs,
which must never be rendered as HTML or Markdown.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

from kit.grading.rubric import Item

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
MAX_TEST_OUTPUT = 20_000  # characters of one test's output; the logs are cut first
MAX_LOG_LINES = 20


def _points(value: float) -> str:
    return f"{value:g}"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 40].rstrip() + "\n... (cut: too long for Gradescope)"


def _status_line(o: dict[str, Any]) -> str:
    return (f"{o['status'].upper()}, {_points(o['points'])}/{_points(o['max_points'])} points, "
            f"{o['duration_s']:.1f}s, seed {o['seed']}")


def local_command(lab: int, item_id: str, seed: int) -> str:
    """The one-item grading command a student can run in their own copy of the handout,
    where their files already sit in place of the reference."""
    return f"python tests/grade.py --lab {lab} --only {item_id} --seed {seed}"


def _logs(o: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for name, text in o["logs"].items():
        tail = "\n".join(text.splitlines()[-MAX_LOG_LINES:])
        lines += [f"--- log: {name} (last lines) ---", tail]
    return ["", "Logs:", *lines] if lines else []


def test_output(o: dict[str, Any], lab: int) -> str:
    """What Gradescope shows under one item: verdict, why, the diff, how to replay, the logs."""
    lines = [_status_line(o)]
    if o["reasons"] or o["notes"]:
        lines += ["", "Why:", *(f"- {r}" for r in o["reasons"]), *(f"- note: {n}" for n in o["notes"])]
    if o["diff"]:
        lines += ["", "First differing words (expected vs got):", o["diff"].rstrip()]
    if o["details"]:
        lines += ["", "Run: " + ", ".join(f"{k} {v}" for k, v in o["details"].items())]
    if o["command"]:
        lines += ["", "Replay (the exact command the grader ran, from the repository root):", o["command"]]
        lines += ["", "Grade this item yourself (from your copy of the handout):",
                  local_command(lab, o["id"], o["seed"])]
    head = "\n".join(lines)
    logs = "\n".join(_logs(o))
    return _cut(head + ("\n" + _cut(logs, max(MAX_TEST_OUTPUT - len(head), 500)) if logs else ""), MAX_TEST_OUTPUT)


def _test(o: dict[str, Any], lab: int) -> dict[str, Any]:
    return {
        "name": f"{o['id']}: {o['title']}",
        "score": o["points"],
        "max_score": o["max_points"],
        "status": "passed" if o["status"] == "pass" else "failed",
        "output": test_output(o, lab),
        "output_format": "text",
    }


def _not_run(item: Item, why: str) -> dict[str, Any]:
    return {"name": f"{item.id}: {item.title}", "score": 0.0, "max_score": item.points, "status": "failed",
            "output": f"NOT GRADED, 0/{_points(item.points)} points\n\n{why}", "output_format": "text"}


def _parts_line(parts: dict[str, str]) -> str:
    if not parts:
        return "Parts: the reference implementation of every part."
    named = ", ".join(f"{name} = {path}" for name, path in sorted(parts.items()))
    return f"Parts graded: {named}; the reference implementation of every other part."


def _summary(report: dict[str, Any], preface: Sequence[str]) -> str:
    lines = [*preface, *([""] if preface else []),
             f"{report['title']}: {_points(report['points'])}/{_points(report['max_points'])} points "
             f"(passed {report['passed']}, failed {report['failed']}, skipped {report['skipped']})",
             _parts_line(report.get("parts") or {}),
             f"Seed {report['seed']}; Redis {report['redis']}; Python {report['python']}; "
             f"graded in {report['duration_s']:.0f}s."]
    if report["points"] < report["max_points"]:
        lines.append("Each failed test below says why, shows the first differing words, and gives the command "
                     "that replays it.")
    return "\n".join(lines)


def results(report: dict[str, Any], planned: Sequence[Item] = (), *, preface: Sequence[str] = (),
            missing: str = "not graded: the grading run stopped before this item",
            visibility: str = "visible", stdout_visibility: str = "hidden",
            execution_time: float | None = None) -> dict[str, Any]:
    """results.json for a grader report (report.summary's dict, possibly partial).

    `planned` are the items the run was meant to grade, in order: any of them
    missing from the report gets a 0-point entry saying `missing`. `preface`
    lines go first in the top-level output (what the autograder made of the
    submission).
    """
    done = {o["id"]: o for o in report["items"]}
    tests = [_test(o, report["lab"]) for o in report["items"]]
    extra = [_not_run(i, missing) for i in planned if i.id not in done]
    all_tests = tests + extra
    points, max_points = sum(t["score"] for t in all_tests), sum(t["max_score"] for t in all_tests)
    summary = _summary({**report, "points": points, "max_points": max_points}, preface)
    elapsed = report.get("duration_s", 0.0) if execution_time is None else execution_time
    return {
        "score": points,
        "execution_time": round(elapsed),
        "output": summary + (f"\n{len(extra)} item(s) not graded: {missing}." if extra else ""),
        "output_format": "text",
        "test_output_format": "text",
        "test_name_format": "text",
        "visibility": visibility,
        "stdout_visibility": stdout_visibility,
        "extra_data": {"lab": report["lab"], "seed": report["seed"], "parts": report.get("parts") or {},
                       "passed": report["passed"], "failed": report["failed"], "skipped": report["skipped"],
                       "not_graded": len(extra)},
        "tests": all_tests,
    }


def not_graded(message: str, planned: Sequence[Item] = (), *, lab: int | None = None,
               visibility: str = "visible", stdout_visibility: str = "hidden",
               execution_time: float = 0.0) -> dict[str, Any]:
    """results.json for a submission that could not be graded at all: score 0, `message` first,
    and every planned item at 0 points with the same message."""
    return {
        "score": 0.0,
        "execution_time": round(execution_time),
        "output": message,
        "output_format": "text",
        "test_output_format": "text",
        "test_name_format": "text",
        "visibility": visibility,
        "stdout_visibility": stdout_visibility,
        "extra_data": {"lab": lab, "not_graded": len(planned)},
        "tests": [_not_run(i, message) for i in planned],
    }


def write(results_json: dict[str, Any], path: Path) -> Path:
    """Write atomically: Gradescope (or a reader) never sees half a file, even if we are killed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(results_json, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)
    return path

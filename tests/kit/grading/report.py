"""The grade report: report.json (for scripts), report.md (for people), a table on stdout.

Everything needed to understand or dispute a verdict is in the report: the
exact command (copy-paste it from the repository root to replay the run),
the seed, why an item failed, the first words whose counts differ, the tail
of each process log and, when the run left a trace, a timeline picture.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, TextIO

from kit.grading.items import Outcome

from wordcount.parts import LAB_PARTS, REFERENCE_IN_REPO, fingerprint

FENCE = "```"


def parts_used(lab: int, swapped: dict[str, str], repo: Path) -> dict[str, dict[str, Any]]:
    """What each part the lab's jobs run was, reference or swapped: its absolute
    path and sha256 (wordcount.parts.fingerprint), so a grade can be traced to
    the exact code that earned it, even after the student edits their copy.
    The reference is the one in `repo`, the checkout whose client the items run."""
    used: dict[str, dict[str, Any]] = {}
    for name in LAB_PARTS[lab]:
        path = Path(swapped[name]) if swapped.get(name) else repo / REFERENCE_IN_REPO[name]
        used[name] = {"path": str(path.resolve()), "sha256": fingerprint(path), "swapped": bool(swapped.get(name))}
    return used


def summary(header: dict[str, Any], outcomes: list[Outcome]) -> dict[str, Any]:
    """The whole report as one JSON-able dict."""
    return {
        **header,
        "points": sum(o.points for o in outcomes),
        "max_points": sum(o.max_points for o in outcomes),
        "passed": sum(o.status == "pass" for o in outcomes),
        "failed": sum(o.status == "fail" for o in outcomes),
        "skipped": sum(o.status == "skipped" for o in outcomes),
        "items": [o.as_json() for o in outcomes],
    }


def _points(value: float) -> str:
    return f"{value:g}"


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _rel(path: str, base: Path) -> str:
    """A link relative to the report, so the report directory can be moved as a whole."""
    try:
        return os.path.relpath(path, base)
    except ValueError:
        return path


def _code(text: str) -> list[str]:
    return [FENCE, text.replace(FENCE, "'''"), FENCE]


def _item_section(o: dict[str, Any], base: Path) -> list[str]:
    lines = [f"### {o['id']}: {o['title']}", "",
             f"{o['status'].upper()}, {_points(o['points'])}/{_points(o['max_points'])} points, "
             f"{o['duration_s']:.1f}s, seed {o['seed']}", ""]
    if o["command"]:
        lines += ["Replay (from the repository root):", "", *_code(o["command"]), ""]
    lines += [f"- {r}" for r in o["reasons"]] + [f"- note: {n}" for n in o["notes"]]
    if o["details"]:
        lines.append("- run: " + ", ".join(f"{k} {v}" for k, v in o["details"].items()))
    lines.append("")
    if o["diff"]:
        lines += ["First differing words:", "", *_code(o["diff"]), ""]
    if o["timeline"]:
        lines += [f"Timeline: ![timeline of {o['id']}]({_rel(o['timeline'], base)})", ""]
    for name, text in o["logs"].items():
        lines += [f"<details><summary>log: {name} (last lines)</summary>", "", *_code(text), "", "</details>", ""]
    return lines


def _parts_table(used: dict[str, dict[str, Any]]) -> list[str]:
    """The code that was graded: one row per part, with the hash to check a copy against."""
    if not used:
        return []
    lines = ["Parts used (sha256 of the file; of a package: see docs/instructors.md, \"Read a report\"):", "",
             "| part | implementation | path | sha256 |", "| --- | --- | --- | --- |"]
    for name, part in used.items():
        kind = "swapped" if part["swapped"] else "reference"
        lines.append(f"| {name} | {kind} | `{part['path']}` | `{part['sha256']}` |")
    return [*lines, ""]


def markdown(report: dict[str, Any], base: Path) -> str:
    parts = ", ".join(f"{k} = `{v}`" for k, v in sorted(report["parts"].items())) or "all reference"
    lines = [
        f"# {report['title']}: {_points(report['points'])} / {_points(report['max_points'])} points", "",
        f"- passed {report['passed']}, failed {report['failed']}, skipped {report['skipped']}",
        f"- parts: {parts}",
        f"- config: `{report['config'] or 'defaults'}`; rubric: `{report['rubric']}`; seed {report['seed']}",
        "- data: " + ", ".join(f"{k} `{v}`" for k, v in report["data"].items()),
        f"- repository: `{report['repo']}` (run replay commands there); Redis: {report['redis']}",
        f"- graded {report['started_at']} in {report['duration_s']:.0f}s", "",
        *_parts_table(report.get("parts_used", {})),
        "| item | points | result | time | why |", "| --- | ---: | --- | ---: | --- |",
    ]
    for o in report["items"]:
        why = _short(o["reasons"][0] if o["reasons"] else "", 140).replace("|", "\\|")
        lines.append(f"| [{o['id']}](#{o['id'].lower()}) | {_points(o['points'])}/{_points(o['max_points'])} "
                     f"| {o['status']} | {o['duration_s']:.1f}s | {why} |")
    lines += ["", "## Items", ""]
    for o in report["items"]:
        lines += _item_section(o, base)
    return "\n".join(lines).rstrip() + "\n"


def write(report: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """report.json and report.md in `out`."""
    js, md = out / "report.json", out / "report.md"
    js.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    md.write_text(markdown(report, out), encoding="utf-8")
    return js, md


def table(report: dict[str, Any], stream: TextIO) -> None:
    """The short table for the terminal."""
    width = max(len(o["id"]) for o in report["items"]) if report["items"] else 4
    print(f"{report['title']}: {_points(report['points'])}/{_points(report['max_points'])} points", file=stream)
    for o in report["items"]:
        score = f"{_points(o['points'])}/{_points(o['max_points'])}"
        why = _short(o["reasons"][0], 90) if o["reasons"] else ""
        print(f"  {o['id']:<{width}}  {score:>7}  {o['status']:<7}  {o['duration_s']:6.1f}s  {why}", file=stream)

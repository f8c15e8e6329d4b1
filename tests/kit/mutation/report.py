"""The mutation report: a table on stdout, mutation.json (for scripts) and mutation.md (for people).

The score of a part is killed / (killed + survived): stillborn mutants (not
compiling, or the reference again) and grading errors are counted but left
out, because they say nothing about the rubric. Every survivor's diff is in
the report, since each one is either an equivalent mutant (argued in
docs/instructors.md) or a bug the rubric misses.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from kit.mutation.regions import Mutant
from kit.mutation.run import Verdict

COLUMNS = ("mutants", "stillborn", "graded", "killed", "survived", "errors", "not_run")
FENCE = "```"
_COLUMN_OF = {"killed": "killed", "survived": "survived", "error": "errors"}  # verdict -> column


@dataclass
class Result:
    mutant: Mutant
    verdict: Verdict | None = None  # None: sampled but not graded (interrupted, or out of time)

    def as_json(self) -> dict[str, Any]:
        m = self.mutant
        out: dict[str, Any] = {"id": m.id, "part": m.part, "file": m.file, "operator": m.operator, "line": m.line,
                               "description": m.description, "status": self.verdict.status if self.verdict else "not run"}
        if self.verdict:
            out.update({k: v for k, v in asdict(self.verdict).items() if k != "status"})
        if out["status"] == "survived":
            out["diff"] = m.diff()
        return out


@dataclass
class Tally:
    mutants: int = 0
    stillborn: int = 0
    graded: int = 0
    killed: int = 0
    survived: int = 0
    errors: int = 0
    not_run: int = 0
    stillborn_ids: list[str] = field(default_factory=list)

    def score(self) -> float | None:
        decided = self.killed + self.survived
        return round(self.killed / decided, 3) if decided else None


def tally(all_mutants: list[Mutant], results: list[Result]) -> dict[str, Tally]:
    """Per part and for the whole lab ("total")."""
    tallies: dict[str, Tally] = {m.part: Tally() for m in all_mutants}
    tallies["total"] = Tally()
    for m in all_mutants:
        for key in (m.part, "total"):
            t = tallies[key]
            t.mutants += 1
            if m.stillborn:
                t.stillborn += 1
                t.stillborn_ids.append(m.id)
    for r in results:
        status = r.verdict.status if r.verdict else "not run"
        column = _COLUMN_OF.get(status, "not_run")
        for key in (r.mutant.part, "total"):
            t = tallies[key]
            t.graded += status in _COLUMN_OF
            setattr(t, column, getattr(t, column) + 1)
    return tallies


def summary(header: dict[str, Any], all_mutants: list[Mutant], results: list[Result]) -> dict[str, Any]:
    tallies = tally(all_mutants, results)
    return {**header,
            "parts": {k: {**{c: getattr(t, c) for c in COLUMNS}, "score": t.score()} for k, t in tallies.items()},
            "results": [r.as_json() for r in results],
            "stillborn": [{"id": m.id, "why": m.stillborn} for m in all_mutants if m.stillborn]}


def table(report: dict[str, Any], stream: TextIO) -> None:
    stream.write(f"Lab {report['lab']} mutation analysis (seed {report['seed']}, sample {report['sample']})\n")
    stream.write(f"  {'part':<14}" + "".join(f"{c:>10}" for c in COLUMNS) + f"{'score':>8}\n")
    for name, row in report["parts"].items():
        score = "-" if row["score"] is None else f"{row['score']:.2f}"
        stream.write(f"  {name:<14}" + "".join(f"{row[c]:>10}" for c in COLUMNS) + f"{score:>8}\n")
    for r in report["results"]:
        if r["status"] in ("survived", "error"):
            stream.write(f"  {r['status']}: {r['id']} ({r['description']})\n")


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# Lab {report['lab']}: mutation analysis of the rubric", "",
             f"- seed {report['seed']}, sample {report['sample']} per part, items: {report['only'] or 'all'}, "
             f"timeout scale {report['timeout_scale']}, {report['duration_s']}s{' (PARTIAL)' if report['partial'] else ''}",
             f"- started {report['started_at']}; rerun: `{report['command']}`", "",
             "| part | " + " | ".join(COLUMNS) + " | score |", "|---" * (len(COLUMNS) + 2) + "|"]
    for name, row in report["parts"].items():
        score = "-" if row["score"] is None else f"{row['score']:.2f}"
        lines.append(f"| {name} | " + " | ".join(str(row[c]) for c in COLUMNS) + f" | {score} |")
    lines += ["", "## Survivors", ""]
    survivors = [r for r in report["results"] if r["status"] == "survived"]
    for r in survivors:
        lines += [f"### {r['id']}: {r['description']}", "", FENCE + "diff", r["diff"].rstrip("\n"), FENCE, ""]
    lines += [] if survivors else ["none", ""]
    lines += ["## Every graded mutant", "", "| mutant | operator | status | first failing item | why | s |",
              "|---|---|---|---|---|---|"]
    for r in report["results"]:
        why = r.get("reason", "").replace("|", "\\|").replace("\n", " ")[:120]
        lines.append(f"| {r['id']} | {r['operator']} | {r['status']} | {r.get('item', '')} | {why} "
                     f"| {r.get('duration_s', '')} |")
    lines += ["", "## Stillborn", ""] + [f"- {s['id']}: {s['why']}" for s in report["stillborn"]] + [""]
    return "\n".join(lines)


def write(report: dict[str, Any], out: Path) -> None:
    """Both files, rewritten after every mutant so an interrupted run still leaves a report."""
    (out / "mutation.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out / "mutation.md").write_text(markdown(report), encoding="utf-8")

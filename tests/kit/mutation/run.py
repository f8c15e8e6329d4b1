"""Making the mutants of a lab's parts and grading each one as a swapped part.

A mutant is written where a student's part would be (a lone file such as
worker.py, or a copy of a package such as mapper/ with one file changed) and
graded by a real `python tests/grade.py --lab N --part NAME=PATH
--stop-at-first-failure` run (kit.run: its own session, stopped with
everything it started on timeout or Ctrl-C), exactly as an instructor grades
a submission. Its report.json decides: fewer points than the maximum means the
rubric caught (killed) the mutant; full marks means it survived.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kit.grading.rubric import Item
from kit.mutation import lua_ops, python_ops
from kit.mutation.regions import Mutant
from kit.run import last_error_line, run

from wordcount import parts

log = logging.getLogger("mutate")
REPO = Path(__file__).resolve().parents[3]
GRADER = REPO / "tests" / "grade.py"
LAB_PARTS: dict[int, tuple[str, ...]] = {1: ("worker", "lua", "tokenizer"), 2: ("mapper", "reducer", "coordinator")}
GRADER_MARGIN_S = 120.0  # on top of the items' own timeouts: corpora, serial counts, reports


def reference(part: str) -> Path:
    """This checkout's reference of `part` (wordcount.parts may be imported from another checkout)."""
    return REPO / parts.REFERENCE[part].relative_to(parts.REPO)


def part_files(part: str) -> list[Path]:
    """The reference files of `part` that have solution regions (so can be mutated)."""
    root = reference(part)
    files = sorted(root.rglob("*.py")) if root.is_dir() else [root]
    return [f for f in files if "BEGIN SOLUTION" in f.read_text(encoding="utf-8")]


def part_mutants(part: str) -> list[Mutant]:
    """Every mutant of every file of `part`, in file and line order, stillborn ones marked."""
    root = reference(part)
    out: list[Mutant] = []
    for path in part_files(part):
        rel = str(path.relative_to(REPO))
        prefix = part if not root.is_dir() else f"{part}/{path.relative_to(root)}"
        ops = lua_ops if path.suffix == ".lua" else python_ops
        out += ops.mutants(part, rel, path.read_text(encoding="utf-8"), prefix)
    return out


# __main__ of the launcher package that runs a mutated package part (see materialise).
LAUNCHER = '''"""Run the mutant copy of package {name!r} beside this launcher as `python -m {name}` would."""
import runpy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "mutant"))
runpy.run_module({name!r}, run_name="__main__", alter_sys=True)
'''


def materialise(mutant: Mutant, directory: Path) -> Path:
    """Write the mutant as a swapped part under `directory`; returns the --part path.

    A package part is copied whole with the one file replaced, so it imports
    its unchanged siblings from its own copy, as a submission would. The copy
    (`mutant/mapper/`) is not what --part names, though: a package part runs
    as `python -m <dirname>` from the repository root, where the current
    directory comes first on sys.path, so a copy named like the reference
    package would silently run the reference. --part names a launcher
    package (`mapper_mutant/`) that puts the copy first and runs it."""
    ref = reference(mutant.part)
    directory.mkdir(parents=True, exist_ok=True)
    if not ref.is_dir():
        target = directory / ref.name
        target.write_text(mutant.mutated, encoding="utf-8")
        return target
    copy = directory / "mutant" / ref.name
    shutil.copytree(ref, copy, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
    (copy / Path(mutant.file).relative_to(ref.relative_to(REPO))).write_text(mutant.mutated, encoding="utf-8")
    launcher = directory / f"{ref.name}_mutant"
    launcher.mkdir(exist_ok=True)
    (launcher / "__init__.py").write_text("", encoding="utf-8")
    (launcher / "__main__.py").write_text(LAUNCHER.format(name=ref.name), encoding="utf-8")
    return launcher


@dataclass
class GradeOptions:
    """How every grading run is made (the same for the baseline and each mutant)."""

    lab: int
    items: list[Item]
    only: list[str] = field(default_factory=list)
    timeout_scale: float = 1.0
    seed: int | None = None
    corpora: Path | None = None  # shared by every run: generated once

    def timeout_s(self) -> float:
        return sum(i.timeout_s for i in self.items) * self.timeout_scale + GRADER_MARGIN_S


@dataclass
class Verdict:
    status: str  # killed | survived | error
    item: str = ""  # the first failing item (killed) or what went wrong (error)
    reason: str = ""
    points: float = 0.0
    max_points: float = 0.0
    duration_s: float = 0.0


def grade(options: GradeOptions, out: Path, part: tuple[str, Path] | None) -> Verdict:
    """Grade the reference (part None) or one swapped part; the report goes in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    if options.corpora is not None and not (out / "data").exists():
        options.corpora.mkdir(parents=True, exist_ok=True)
        (out / "data").symlink_to(options.corpora, target_is_directory=True)
    argv = [sys.executable, str(GRADER), "--lab", str(options.lab), "--out", str(out), "--stop-at-first-failure",
            "--log-level", "WARNING", "--jobs-timeout-scale", str(options.timeout_scale)]
    argv += [f"--part={part[0]}={part[1]}"] if part else []
    argv += ["--only", *options.only] if options.only else []
    argv += ["--seed", str(options.seed)] if options.seed is not None else []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH"))))}
    done = run(argv, options.timeout_s(), cwd=REPO, env=env, output=out / "grade.log")
    return verdict(out / "report.json", done.exit_code, done.stdout, done.duration_s)


def verdict(report_path: Path, exit_code: int | None, output: str, duration_s: float) -> Verdict:
    """Read a finished grading run: killed if it lost points, survived on full marks."""
    if exit_code not in (0, 1) or not report_path.is_file():
        why = "the grader timed out" if exit_code is None else last_error_line(output, exit_code)
        return Verdict("error", "grader", why, duration_s=round(duration_s, 1))
    report: dict[str, Any] = json.loads(report_path.read_text(encoding="utf-8"))
    failed = [i for i in report["items"] if i["status"] == "fail"]
    status = "killed" if report["points"] < report["max_points"] else "survived"
    first = failed[0] if failed else {"id": "", "reasons": []}
    return Verdict(status, first["id"], (first["reasons"] or [""])[0][:300], report["points"], report["max_points"],
                   round(duration_s, 1))

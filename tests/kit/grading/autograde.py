"""Grade one Gradescope submission: what the autograder zip's run_autograder does.

The autograder tree is Gradescope's (docs: "Autograder Specifications"):

    <root>/source/        the zip: setup.sh, run_autograder, rubric.json, repo/ (this repository)
    <root>/submission/    the student's files
    <root>/results/results.json   what we write, and all Gradescope reads
    <root>/work/          ours: staged parts, the grader's report, corpora and item runs

<root> is /autograder on Gradescope and WC_AUTOGRADER_ROOT anywhere else, so
the whole thing can be tried (and tested) in a temporary directory.

The student's files are mapped to parts by name (kit.grading.submission),
then tests/grade.py runs as a subprocess with `--part NAME=PATH` for each,
under one overall time limit derived from the rubric's item timeouts: the
grader enforces every item's own timeout, and the overall limit catches
everything else (corpus generation, a grader that hangs), stopping the
grader's whole process group. Its report.json is rewritten after every
item, so even a run stopped half-way gives the items graded so far; the
rest get 0 points with the reason. Whatever happens, results.json is
written: a submission we cannot grade gets score 0 and one clear message.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from kit.grading import gradescope, runner
from kit.grading.rubric import Item, load_rubric, select
from kit.grading.submission import BadSubmission, Found, find_parts
from kit.run import Finished, run
from wordcount.errors import UserError

log = logging.getLogger("autograder")

ROOT_ENV = "WC_AUTOGRADER_ROOT"
ONLY_ENV = "WC_AUTOGRADER_ONLY"
DEFAULT_ROOT = "/autograder"
GRADER = runner.REPO / "tests" / "grade.py"
PER_ITEM_S = 60.0  # besides an item's own timeout: its corpus, the serial count, starting the client
FIXED_S = 60.0  # the grader's start, the preflight `client.py --help`
TERM_GRACE_S = 20.0  # SIGTERM to SIGKILL: the grader stops the running item's processes in between
INTERNAL_ERROR = ("The autograder failed on this submission: an internal error, not a verdict on your "
                  "code. Your instructor can see the details in the autograder's output.")


@dataclass(frozen=True)
class Options:
    """How to grade: fixed when the zip is built (lab, rubric, ...), except `root` and `only`."""

    root: Path
    lab: int
    rubric: Path
    only: tuple[str, ...] = ()
    seed: int | None = None
    timeout_scale: float = 1.0
    visibility: str = "visible"
    stdout_visibility: str = "hidden"

    @property
    def results_file(self) -> Path:
        return self.root / "results" / "results.json"

    @property
    def work(self) -> Path:
        return self.root / "work"


def only_from_env(value: str | None) -> tuple[str, ...]:
    """WC_AUTOGRADER_ONLY="one_worker,crash_after_commit" (commas or spaces) -> item ids."""
    return tuple(i for i in re.split(r"[,\s]+", value or "") if i)


def time_budget_s(items: Sequence[Item], scale: float) -> float:
    """The longest a whole grading run may take: every item at its timeout, plus overheads."""
    return sum(i.timeout_s * scale + PER_ITEM_S for i in items) + FIXED_S


def grade_argv(opts: Options, found: Found, out: Path) -> list[str]:
    argv = [sys.executable, str(GRADER), "--lab", str(opts.lab), "--rubric", str(opts.rubric),
            "--out", str(out), "--jobs-timeout-scale", f"{opts.timeout_scale:g}"]
    if opts.seed is not None:
        argv += ["--seed", str(opts.seed)]
    if opts.only:
        argv += ["--only", *opts.only]
    for spec in found.part_args():
        argv += ["--part", spec]
    return argv


def grader_env() -> dict[str, str]:
    """This repository first on PYTHONPATH, so the grader and the parts use the zip's copy of it."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(runner.REPO), env.get("PYTHONPATH"))))
    return env


def _read_report(out: Path) -> dict[str, Any] | None:
    try:
        report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) and isinstance(report.get("items"), list) else None


def _write(opts: Options, results: dict[str, Any]) -> dict[str, Any]:
    gradescope.write(results, opts.results_file)
    log.info("score %g; wrote %s", results["score"], opts.results_file)
    return results


def _not_graded(opts: Options, message: str, planned: Sequence[Item], t0: float) -> dict[str, Any]:
    log.info("not graded: %s", message)
    return _write(opts, gradescope.not_graded(message, planned, lab=opts.lab, visibility=opts.visibility,
                                              stdout_visibility=opts.stdout_visibility,
                                              execution_time=time.monotonic() - t0))


def _fresh(directory: Path) -> Path:
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    return directory


def _stopped_why(done: Finished | None, budget: float) -> str:
    if done is None:
        return "not graded: the autograder was stopped (interrupted) before this item"
    if done.timed_out:
        return f"not graded: the autograder's time limit ({budget:.0f}s for the whole run) ran out before this item"
    return f"not graded: the grader stopped before this item (exit status {done.exit_code}: {done.last_error})"


def run_grader(argv: list[str], budget: float, log_file: Path) -> Finished | None:
    """Run tests/grade.py within `budget` seconds (then it and all it started are stopped); None if
    we were interrupted (SIGTERM, say a time limit outside ours): what was graded still counts."""
    try:
        done = run(argv, budget, cwd=runner.REPO, env=grader_env(), output=log_file, term_grace_s=TERM_GRACE_S)
    except KeyboardInterrupt:
        log.warning("interrupted: the grader and everything it started were stopped")
        return None
    sys.stdout.write(done.stdout)  # the grader's log, for the instructor (Gradescope keeps stdout)
    return done


def grade_submission(opts: Options, planned: Sequence[Item], t0: float) -> dict[str, Any]:
    """Map the submission to parts, run the grader on them, turn its report into results.json."""
    work = _fresh(opts.work)
    try:
        found = find_parts(opts.root / "submission", opts.lab, work / "parts")
    except BadSubmission as exc:
        return _not_graded(opts, f"Your submission was not graded: {str(exc).rstrip('.')}.", planned, t0)
    for note in found.notes:
        log.info("submission: %s", note)
    out = work / "grade"
    budget = time_budget_s(planned, opts.timeout_scale)
    argv = grade_argv(opts, found, out)
    log.info("running %s (at most %.0fs)", " ".join(argv[1:]), budget)
    done = run_grader(argv, budget, work / "grade.log")
    report = _read_report(out)
    if report is None:
        why = done.last_error if done is not None else "the autograder was interrupted"
        return _not_graded(opts, f"The grader could not run: {why}.", planned, t0)
    preface = ["Your submission: " + "; ".join(found.notes) + "."]
    results = gradescope.results(report, planned, preface=preface, missing=_stopped_why(done, budget),
                                 visibility=opts.visibility, stdout_visibility=opts.stdout_visibility,
                                 execution_time=time.monotonic() - t0)
    return _write(opts, results)


def autograde(opts: Options) -> dict[str, Any]:
    """Grade and write results.json; never raises for anything a submission can do."""
    t0 = time.monotonic()
    try:
        planned = select(load_rubric(opts.rubric).lab(opts.lab), list(opts.only), f"{ONLY_ENV}/--only")
    except UserError as exc:
        return _not_graded(opts, f"The autograder is misconfigured (tell your instructor): {exc}", [], t0)
    try:
        return grade_submission(opts, planned, t0)
    except Exception:  # a bug of ours: the instructor sees the traceback in stdout, the student a message
        log.exception("internal error")
        return _not_graded(opts, INTERNAL_ERROR, planned, t0)

"""Build a Gradescope autograder zip for one lab.

    python tests/autograder.py --lab 1|2 OUT.zip [--rubric FILE] [--seed N]
                               [--jobs-timeout-scale X] [--visibility V] [--stdout-visibility V]

The zip holds setup.sh (installs Python, redis-server and this repository on
Gradescope's Ubuntu image), run_autograder (grades /autograder/submission
with tests/grade.py and writes /autograder/results/results.json), the rubric
it grades with, and repo/: the repository's git-tracked files. Upload it on
the assignment's "Configure Autograder" page. Mistakes (no such lab, a bad
rubric, not a git checkout) are one line and exit 2. See docs/instructors.md,
"Gradescope".
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Sequence

from kit.grading import bundle, gradescope, runner
from kit.grading.autograde import time_budget_s
from kit.grading.rubric import load_rubric
from wordcount.errors import UserError

log = logging.getLogger("autograder")
HERE = Path(__file__).resolve().parent


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tests/autograder.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", metavar="OUT.zip", help="the zip to write (replaced if it exists)")
    parser.add_argument("--lab", type=int, required=True, choices=(1, 2), help="which lab the autograder grades")
    parser.add_argument("--rubric", default=str(HERE / "rubric.json"), metavar="FILE",
                        help="grade with this rubric (default: tests/rubric.json); it goes into the zip")
    parser.add_argument("--seed", type=int, help="corpus and kill-schedule seed (default: the rubric's)")
    parser.add_argument("--jobs-timeout-scale", type=float, default=1.0, metavar="X",
                        help="multiply every item's timeout by X (a slow Gradescope machine)")
    parser.add_argument("--visibility", choices=gradescope.VISIBILITIES, default="visible",
                        help="when students see the tests (Gradescope's visibility; default visible)")
    parser.add_argument("--stdout-visibility", choices=gradescope.VISIBILITIES, default="hidden",
                        help="when students see the grader's own log (default hidden: instructors only)")
    args = parser.parse_args(argv)
    if args.jobs_timeout_scale <= 0:
        parser.error("--jobs-timeout-scale must be > 0")
    return args


def build(args: argparse.Namespace) -> None:
    """Check the inputs, write the zip, and say what the Gradescope timeout must allow."""
    rubric_path = Path(args.rubric).resolve()
    lab = load_rubric(rubric_path).lab(args.lab)  # a bad rubric stops here, not on Gradescope
    out = Path(args.out).resolve()
    if not out.parent.is_dir():
        raise UserError(f"{out.parent} is not a directory")
    opts = bundle.BuildOptions(lab=args.lab, rubric=rubric_path, seed=args.seed,
                               timeout_scale=args.jobs_timeout_scale, visibility=args.visibility,
                               stdout_visibility=args.stdout_visibility)
    names = bundle.build(runner.REPO, out, opts)
    left_out = bundle.untracked_sources(runner.REPO)
    if left_out:
        shown = ", ".join(left_out[:10]) + (" ..." if len(left_out) > 10 else "")
        log.warning("left out of the zip (not tracked by git): %s", shown)
    budget = time_budget_s(lab.items, args.jobs_timeout_scale)
    points = sum(i.points for i in lab.items)
    print(f"wrote {out}: {lab.title}, {len(lab.items)} items, {points:g} points; "
          f"{len(names)} tracked files of {runner.REPO}")
    print(f"a run takes at most {budget:.0f}s ({budget / 60:.0f} min): set the Gradescope autograder "
          "timeout at least that high")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="autograder: %(message)s")
    try:
        build(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

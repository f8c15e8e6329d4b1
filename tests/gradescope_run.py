"""Grade the Gradescope submission in <root>/submission into <root>/results/results.json.

    python tests/gradescope_run.py --lab 1|2 [--root DIR] [--rubric FILE] [--only ID ...]
                                   [--seed N] [--jobs-timeout-scale X]
                                   [--visibility V] [--stdout-visibility V]

This is what the autograder zip's run_autograder runs (the zip is built by
tests/autograder.py, which fixes the lab and the other flags in it); it can
also be run by hand on an unpacked autograder tree. --root defaults to
$WC_AUTOGRADER_ROOT, else /autograder; --only to $WC_AUTOGRADER_ONLY (item
ids separated by commas). The exit status is 0 whenever results.json was
written, whatever the grade. See docs/instructors.md, "Gradescope".
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Sequence

from kit.grading import gradescope
from kit.grading.autograde import DEFAULT_ROOT, ONLY_ENV, ROOT_ENV, Options, autograde, only_from_env

HERE = Path(__file__).resolve().parent


def parse_args(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(prog="tests/gradescope_run.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--lab", type=int, required=True, choices=(1, 2))
    parser.add_argument("--root", default=os.environ.get(ROOT_ENV) or DEFAULT_ROOT,
                        help=f"the autograder tree (default ${ROOT_ENV}, else {DEFAULT_ROOT})")
    parser.add_argument("--rubric", default=str(HERE / "rubric.json"), metavar="FILE")
    parser.add_argument("--only", nargs="+", default=list(only_from_env(os.environ.get(ONLY_ENV))),
                        metavar="ITEM_ID", help=f"grade only these items (default ${ONLY_ENV}, comma-separated)")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--jobs-timeout-scale", type=float, default=1.0, metavar="X")
    parser.add_argument("--visibility", choices=gradescope.VISIBILITIES, default="visible")
    parser.add_argument("--stdout-visibility", choices=gradescope.VISIBILITIES, default="hidden")
    args = parser.parse_args(argv)
    if args.jobs_timeout_scale <= 0:
        parser.error("--jobs-timeout-scale must be > 0")
    return Options(root=Path(args.root).resolve(), lab=args.lab, rubric=Path(args.rubric).resolve(),
                   only=tuple(args.only), seed=args.seed, timeout_scale=args.jobs_timeout_scale,
                   visibility=args.visibility, stdout_visibility=args.stdout_visibility)


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM (Gradescope's time limit) unwinds like Ctrl-C: the grader's processes are stopped,
    and what was graded so far is still written."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="autograder: %(message)s")
    signal.signal(signal.SIGTERM, _interrupt)
    results = autograde(opts)
    print(f"autograder: {results['score']:g} points; results in {opts.results_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Grade a lab against the configured parts and write a report (Markdown and JSON).

    python tests/grade.py --lab 1|2 [--rubric tests/rubric.json] [--part NAME=PATH ...]
                          [--config FILE] [--data DIR] [--seed N] [--only ITEM_ID ...]
                          [--out DIR] [--jobs-timeout-scale X] [--fail-under POINTS]
                          [--stop-at-first-failure]

Each rubric item runs `python client.py ...` in isolation (its own directory,
config, private Redis and free ports, its own session so a timeout kills
exactly what it started) and compares the complete output table with an
independent serial count. The verdict is in <out>/report.md and report.json;
the exit status is 0 unless the grader itself could not run (2 for a user
mistake such as a bad rubric), or the total is below --fail-under (1).
See docs/instructors.md.

Run as a script, this file's directory (tests/) is sys.path[0], so the kit
(tests/kit/) imports as `kit`; the project's modules come from the installed
package (`pip install -e .`).
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import logging
import platform
import signal
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from kit.grading import items, report, runner
from kit.grading.data import Corpora
from kit.grading.rubric import load_rubric, select
from kit.run import last_error_line

import myrds
from wordcount import rundirs
from wordcount.config import Settings, load_settings
from wordcount.errors import UserError
from wordcount.parts import parse_part

log = logging.getLogger("grade")
HERE = Path(__file__).resolve().parent
REPO = runner.REPO
DEFAULT_RUBRIC = HERE / "rubric.json"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tests/grade.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--lab", type=int, required=True, choices=(1, 2), help="which lab to grade")
    parser.add_argument("--rubric", default=str(DEFAULT_RUBRIC), metavar="FILE",
                        help="points, timeouts and items (default: tests/rubric.json)")
    parser.add_argument("--part", action="append", default=[], metavar="NAME=PATH",
                        help="grade this implementation of a part (worker, lua, tokenizer, mapper, reducer, "
                        "coordinator) with the reference for the rest. Repeatable")
    parser.add_argument("--config", metavar="FILE",
                        help="settings (and parts) to grade with (default: the repository's config.json)")
    parser.add_argument("--data", metavar="DIR", help="grade on this data instead of generated corpora")
    parser.add_argument("--seed", type=int, help="corpus and kill-schedule seed (default: the rubric's)")
    parser.add_argument("--only", action="extend", nargs="+", default=[], metavar="ITEM_ID",
                        help="run only these items")
    parser.add_argument("--out", metavar="DIR", help="report directory (default: .wc-run/grade/lab<N>-<time>)")
    parser.add_argument("--jobs-timeout-scale", type=float, default=1.0, metavar="X",
                        help="multiply every item's timeout by X (slow machines)")
    parser.add_argument("--fail-under", type=float, metavar="POINTS",
                        help="exit 1 if the total is below POINTS")
    parser.add_argument("--stop-at-first-failure", action="store_true",
                        help="skip every item after the first failing one, whatever the rubric's "
                        "skip_after_failure (tests/mutate.py: a killed mutant needs one failure, not all)")
    parser.add_argument("--log-level", default="INFO", type=str.upper, choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                        help="the grader's own logging (default INFO)")
    args = parser.parse_args(argv)
    if args.jobs_timeout_scale <= 0:
        parser.error("--jobs-timeout-scale must be > 0")
    return args


def base_settings(config: str | None) -> tuple[dict[str, Any], str | None]:
    """The settings every item starts from: --config, else the repository's config.json."""
    path = config or (str(REPO / "config.json") if (REPO / "config.json").exists() else None)
    settings = load_settings(path) if path else Settings()
    return dataclasses.asdict(settings), str(Path(path).resolve()) if path else None


def redis_description() -> str:
    try:
        binary, version = myrds.find_binary()
    except UserError as exc:
        return f"none ({exc})"
    return f"{version} ({binary})"


def preflight(lab_items: list) -> str | None:
    """Why the job under grading cannot even start (e.g. Lab 2 not written yet), or None."""
    needs_stream = any(i.args[:1] == ("stream",) for i in lab_items)
    argv = [sys.executable, "client.py", *(["stream"] if needs_stream else []), "--help"]
    code, output = runner.quick(argv, timeout_s=60)
    if code == 0:
        return None
    return f"'python {' '.join(argv[1:])}' failed, so this job is not available: {last_error_line(output, code)}"


def skipped(prep: items.Prepared, seed: int, because: str) -> items.Outcome:
    return items.Outcome(prep.item.id, prep.item.title, prep.item.points, status="skipped", seed=seed,
                         command=prep.command, reasons=[because], item_dir=str(prep.dir))


def grade(args: argparse.Namespace) -> dict[str, Any]:
    """Run the selected items in rubric order and return the report (also written after each item)."""
    started, t0 = datetime.datetime.now().astimezone(), time.monotonic()
    rubric = load_rubric(args.rubric)
    lab = rubric.lab(args.lab)
    chosen = select(lab, args.only, f"rubric {args.rubric}")
    parts = dict(parse_part(p) for p in args.part)
    base, config_path = base_settings(args.config)
    if args.data and not Path(args.data).exists():
        raise UserError(f"--data {args.data!r} does not exist")
    seed = rubric.seed if args.seed is None else args.seed
    out = Path(args.out or f".wc-run/grade/lab{args.lab}-{started:%Y%m%d-%H%M%S}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    rundirs.hold(str(out), "grading")  # until we exit: job-start pruning and `client.py clean` keep away
    corpora = Corpora(seed, out / "data", Path(args.data).resolve() if args.data else None)
    ctx = items.Context(rubric, lab, seed, out, corpora, base, parts, args.jobs_timeout_scale)
    prepared = [items.prepare(ctx, item) for item in chosen]  # settings mistakes stop us here
    header = {
        "lab": lab.number, "title": lab.title, "rubric": str(Path(args.rubric).resolve()), "seed": seed,
        "repo": str(REPO), "out": str(out), "config": config_path,
        "parts": {**base.get("parts", {}), **parts},
        "data": {p.item.corpus if not args.data else "given": str(p.data) for p in prepared},
        "redis": redis_description(), "python": platform.python_version(),
        "started_at": started.isoformat(timespec="seconds"),
    }
    unavailable = preflight(chosen)
    outcomes: list[items.Outcome] = []
    failed: str | None = None
    for prep in prepared:
        if unavailable:
            outcome = items.Outcome(prep.item.id, prep.item.title, prep.item.points, seed=seed,
                                    command=prep.command, reasons=[unavailable], item_dir=str(prep.dir))
        elif failed and (lab.skip_after_failure or args.stop_at_first_failure):
            outcome = skipped(prep, seed, f"skipped: item {failed} failed earlier")
        else:
            outcome = items.run_item(ctx, prep)
        log.info("item %s: %s (%.1fs)", outcome.id, outcome.status, outcome.duration_s)
        if outcome.status == "fail":
            failed = failed or outcome.id
        outcomes.append(outcome)
        result = report.summary({**header, "duration_s": round(time.monotonic() - t0, 1)}, outcomes)
        report.write(result, out)
    return result


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so the running item's processes are stopped first."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=args.log_level, format="grade: %(message)s")
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        result = grade(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; every process the grader started was stopped", file=sys.stderr)
        return 130
    report.table(result, sys.stdout)
    print(f"report: {Path(result['out']) / 'report.md'}")
    if args.fail_under is not None and result["points"] < args.fail_under:
        print(f"total {result['points']:g} is below --fail-under {args.fail_under:g}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

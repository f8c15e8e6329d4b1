"""Grade a lab against the configured parts and write a report (Markdown and JSON).

    python tests/grade.py --lab 1|2 [--rubric tests/rubric.json] [--part NAME=PATH ...]
                          [--config FILE] [--data DIR] [--seed N] [--only ITEM_ID ...]
                          [--out DIR] [--jobs-timeout-scale X] [--fail-under POINTS]
                          [--format report|gradescope] [--results-json FILE]
                          [--parallel N] [--stop-at-first-failure]

Each rubric item runs `python client.py ...` in isolation (its own directory,
config, private Redis and free ports, its own session so a timeout kills
exactly what it started) and compares the complete output table with an
independent serial count. The verdict is in <out>/report.md and report.json
(with --format gradescope also in Gradescope's results.json, kit/grading/gradescope.py);
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
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Sequence

from kit import run as kit_run
from kit.grading import gradescope, items, report, runner
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
    parser.add_argument("--parallel", type=int, default=3, metavar="N",
                        help="run up to N items side by side (default 3; 1 = one at a time). Speed items and "
                        "items marked \"alone\" in the rubric always run by themselves; the grade does not "
                        "depend on N")
    parser.add_argument("--fail-under", type=float, metavar="POINTS",
                        help="exit 1 if the total is below POINTS")
    parser.add_argument("--format", choices=("report", "gradescope"), default="report",
                        help="report: report.md and report.json in --out (always written); gradescope: also "
                        "Gradescope's results.json, in --out or at --results-json")
    parser.add_argument("--results-json", metavar="FILE",
                        help="where --format gradescope writes results.json (default <out>/results.json); "
                        "implies --format gradescope")
    parser.add_argument("--stop-at-first-failure", action="store_true",
                        help="skip every item after the first failing one, whatever the rubric's "
                        "skip_after_failure (tests/mutate.py: a killed mutant needs one failure, not all)")
    parser.add_argument("--log-level", default="INFO", type=str.upper, choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                        help="the grader's own logging (default INFO)")
    args = parser.parse_args(argv)
    if args.jobs_timeout_scale <= 0:
        parser.error("--jobs-timeout-scale must be > 0")
    if args.parallel < 1:
        parser.error("--parallel must be >= 1")
    if args.results_json:
        args.format = "gradescope"
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


def results_path(args: argparse.Namespace, out: Path | None) -> Path | None:
    """Where --format gradescope writes results.json (None: not asked for, or no --out known yet)."""
    if args.format != "gradescope":
        return None
    if args.results_json:
        return Path(args.results_json).resolve()
    return out / "results.json" if out is not None else None


def write_results(args: argparse.Namespace, result: dict[str, Any], planned: list, out: Path) -> None:
    """results.json next to the report, rewritten after every item like the report, so a run
    stopped half-way still leaves a valid file (the items not reached at 0 points)."""
    path = results_path(args, out)
    if path is not None:
        gradescope.write(gradescope.results(result, planned), path)


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
        "parts_used": report.parts_used(lab.number, {**base.get("parts", {}), **parts}, REPO),
        "data": {p.item.corpus if not args.data else "given": str(p.data) for p in prepared},
        "redis": redis_description(), "python": platform.python_version(),
        "started_at": started.isoformat(timespec="seconds"),
    }
    unavailable = preflight(chosen)
    done: dict[int, items.Outcome] = {}
    lock = threading.Lock()
    skip_rule = lab.skip_after_failure or args.stop_at_first_failure

    def record(index: int, outcome: items.Outcome) -> None:
        """Keep an outcome and rewrite the report (so far, in rubric order)."""
        log.info("item %s: %s (%.1fs)", outcome.id, outcome.status, outcome.duration_s)
        with lock:
            done[index] = outcome
            so_far = settle(skip_rule, [done[i] for i in sorted(done)], [prepared[i] for i in sorted(done)], seed)
            so_far_report = report.summary({**header, "duration_s": round(time.monotonic() - t0, 1)}, so_far)
            report.write(so_far_report, out)
            write_results(args, so_far_report, chosen, out)

    for prep in prepared:  # corpora and serial counts first, one at a time: the items share them
        ctx.corpora.directory(ctx.rubric.corpora[prep.item.corpus])
        ctx.corpora.expected(prep.data, prep.settings)
    if unavailable:
        for i, prep in enumerate(prepared):
            record(i, items.Outcome(prep.item.id, prep.item.title, prep.item.points, seed=seed,
                                    command=prep.command, reasons=[unavailable], item_dir=str(prep.dir)))
    else:
        run_all(ctx, prepared, args.parallel, skip_rule, record)
    outcomes = settle(skip_rule, [done[i] for i in sorted(done)], prepared, seed)
    result = report.summary({**header, "duration_s": round(time.monotonic() - t0, 1)}, outcomes)
    report.write(result, out)
    write_results(args, result, chosen, out)
    return result


def run_all(ctx: items.Context, prepared: list[items.Prepared], parallel: int, stop_after_failure: bool,
            record: Callable[[int, items.Outcome], None]) -> None:
    """Run the items, up to `parallel` side by side, then the ones that must run
    alone (their timing is what they grade). Once an item fails in a lab that
    skips after a failure, no later item starts (settle() decides their verdict)."""
    shared = [i for i, p in enumerate(prepared) if not p.item.alone]
    alone = [i for i, p in enumerate(prepared) if p.item.alone]
    failed: list[int] = []

    def one(i: int) -> None:
        if stop_after_failure and failed and min(failed) < i:
            return
        outcome = items.run_item(ctx, prepared[i])
        if outcome.status == "fail":
            failed.append(i)
        record(i, outcome)

    pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="item")
    try:
        for future in [pool.submit(one, i) for i in shared]:
            future.result()
    except BaseException:
        kit_run.CANCEL.set()  # every job in progress stops what it started
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    for i in alone:
        one(i)


def settle(skip_after_failure: bool, outcomes: list[items.Outcome], prepared: list[items.Prepared],
           seed: int) -> list[items.Outcome]:
    """Every item's outcome in rubric order, with the skip rule applied the same
    way whatever ran side by side: in a lab that skips after a failure, every
    item after the first failed one (rubric order) is skipped with 0 points,
    even if it ran meanwhile."""
    by_id = {o.id: o for o in outcomes}
    settled: list[items.Outcome] = []
    first_failure: str | None = None
    for prep in prepared:
        outcome = by_id.get(prep.item.id)
        if first_failure and skip_after_failure:
            outcome = skipped(prep, seed, f"skipped: item {first_failure} failed earlier")
        elif outcome is None:
            continue
        elif outcome.status == "fail":
            first_failure = outcome.id
        settled.append(outcome)
    return settled


def failed_results(args: argparse.Namespace, message: str) -> None:
    """With --format gradescope, a grading run that could not start still leaves a results.json
    (score 0, the one-line error), so an autograder shows the reason instead of nothing."""
    path = results_path(args, Path(args.out).resolve() if args.out else None)
    if path is None:
        return
    try:
        planned = select(load_rubric(args.rubric).lab(args.lab), args.only, "")
    except UserError:  # the rubric (or --only) is what failed: no items to list
        planned = []
    try:
        gradescope.write(gradescope.not_graded(message, planned, lab=args.lab), path)
    except OSError as exc:
        log.warning("cannot write %s: %s", path, exc)


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
        failed_results(args, f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        print("interrupted; every process the grader started was stopped", file=sys.stderr)
        return 130
    report.table(result, sys.stdout)
    print(f"report: {Path(result['out']) / 'report.md'}")
    if (path := results_path(args, Path(result["out"]))) is not None:
        print(f"gradescope results: {path}")
    if args.fail_under is not None and result["points"] < args.fail_under:
        print(f"total {result['points']:g} is below --fail-under {args.fail_under:g}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

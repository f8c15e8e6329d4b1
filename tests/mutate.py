"""Mutation analysis of the rubric: does grading catch small bugs in the solution regions?

    python tests/mutate.py --lab 1|2 [--part NAME ...] [--sample K] [--seed S] [--mutant ID ...]
                           [--only ITEM ...] [--out DIR] [--jobs-timeout-scale X] [--budget-min M]
                           [--no-baseline] [--list]

Every mutant is one small change (a negated condition, a dropped statement
or call, two statements swapped, a comparison or a constant off by one) of
the reference, made only between `BEGIN SOLUTION` and `END SOLUTION`, written
as a swapped part and graded by `tests/grade.py --stop-at-first-failure`.
Killed = it lost points; survived = full marks (its diff goes in the report:
an equivalent mutant, or a gap in the rubric). The report is a table on
stdout plus mutation.md and mutation.json in --out. See docs/instructors.md,
"Mutation analysis".

Why not mutmut or cosmic-ray: both mutate a whole package in place and judge a
mutant by an in-process pytest (or other command) run, with no notion of
"only these marked lines"; what is graded here is a part swapped in through
`--part`, in a subprocess that starts Redis, workers and a client, one part
at a time, with the grader's points as the verdict. Restricting their
operators to marker regions and teaching them the part layout would be more
code than kit/mutation/ itself (a few hundred lines, reusing the grader as is).

Exit status: 0 when done (whatever the score), 1 if the reference itself
does not get full marks (the analysis would mean nothing), 2 for a user
mistake, 130 when interrupted (the partial report is still written).
"""
from __future__ import annotations

import argparse
import datetime
import itertools
import logging
import random
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from kit.grading.rubric import load_rubric, select
from kit.mutation import report
from kit.mutation.regions import Mutant, RegionError
from kit.mutation.run import LAB_PARTS, REPO, GradeOptions, grade, materialise, part_files, part_mutants

from wordcount.errors import UserError

log = logging.getLogger("mutate")
RUBRIC = REPO / "tests" / "rubric.json"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tests/mutate.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--lab", type=int, required=True, choices=sorted(LAB_PARTS))
    parser.add_argument("--part", action="extend", nargs="+", default=[], metavar="NAME",
                        help="mutate only these parts (default: every part of the lab with solution regions)")
    parser.add_argument("--sample", type=int, metavar="K", help="grade K mutants per part, picked by --seed "
                        "(default: all)")
    parser.add_argument("--seed", type=int, default=1, help="sampling seed (default 1)")
    parser.add_argument("--mutant", action="extend", nargs="+", default=[], metavar="ID",
                        help="also grade these mutants (ids as in --list or a report)")
    parser.add_argument("--only", action="extend", nargs="+", default=[], metavar="ITEM",
                        help="grade with only these rubric items (quicker, weaker)")
    parser.add_argument("--out", metavar="DIR", help="report directory (default: .wc-run/mutate/lab<N>-<time>)")
    parser.add_argument("--jobs-timeout-scale", type=float, default=1.0, metavar="X",
                        help="passed to the grader: multiply every item's timeout by X")
    parser.add_argument("--budget-min", type=float, metavar="M",
                        help="start no grading after M minutes; the rest is reported as not run (partial)")
    parser.add_argument("--no-baseline", action="store_true",
                        help="do not first check that the reference gets full marks")
    parser.add_argument("--list", action="store_true", help="list the mutants (and why any is stillborn), grade none")
    parser.add_argument("--log-level", default="INFO", type=str.upper, choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    args = parser.parse_args(argv)
    if args.sample is not None and args.sample < 0:
        parser.error("--sample must be >= 0")
    if args.jobs_timeout_scale <= 0:
        parser.error("--jobs-timeout-scale must be > 0")
    return args


def chosen_parts(lab: int, names: list[str]) -> list[str]:
    """The parts to mutate: named ones must belong to the lab; by default those with regions."""
    unknown = [n for n in names if n not in LAB_PARTS[lab]]
    if unknown:
        raise UserError(f"--part {', '.join(unknown)}: not a part of lab {lab} (parts: {', '.join(LAB_PARTS[lab])})")
    names = names or list(LAB_PARTS[lab])
    empty = [n for n in names if not part_files(n)]
    if empty and len(empty) == len(names):
        raise UserError(f"no solution region in part(s) {', '.join(empty)}: nothing to mutate")
    return [n for n in names if n not in empty]


def pick(mutants: list[Mutant], parts: list[str], sample: int | None, seed: int, wanted: list[str]) -> list[Mutant]:
    """The mutants to grade: per part, `sample` of the viable ones (all if None), plus `wanted` by id.

    Each part has its own generator seeded by (seed, part), so adding a part
    to the command does not change the sample of another. The parts take
    turns (round robin) and each part's mutants come in the sampled (random)
    order, so a run stopped early (--budget-min, Ctrl-C) has still measured a
    random sample of every part."""
    by_id = {m.id: m for m in mutants}
    unknown = [i for i in wanted if i not in by_id]
    if unknown:
        raise UserError(f"--mutant {', '.join(unknown)}: no such mutant (see --list)")
    dead = [i for i in wanted if by_id[i].stillborn]
    if dead:
        raise UserError(f"--mutant {dead[0]} is stillborn ({by_id[dead[0]].stillborn}): nothing to grade")
    queues: list[list[Mutant]] = []
    for part in parts:
        viable = [m.id for m in mutants if m.part == part and not m.stillborn and m.id not in wanted]
        k = len(viable) if sample is None else min(sample, len(viable))
        ids = [i for i in wanted if by_id[i].part == part] + random.Random(f"{seed}:{part}").sample(viable, k)
        queues.append([by_id[i] for i in ids])
    return [m for turn in itertools.zip_longest(*queues) for m in turn if m is not None]


def baseline(options: GradeOptions, out: Path) -> str:
    """Why the reference itself does not get full marks with these options ("" if it does):
    then no verdict on a mutant would mean anything."""
    log.info("baseline: grading the reference")
    v = grade(options, out / "baseline", None)
    if v.status != "survived":
        return (f"the reference itself does not get full marks ({v.item}: {v.reason}); see {out / 'baseline'}; "
                "fix that (or the options, e.g. a larger --jobs-timeout-scale) before measuring mutants")
    log.info("baseline: full marks in %.1fs", v.duration_s)
    return ""


def measure(args: argparse.Namespace, out: Path, header: dict[str, Any], mutants: list[Mutant],
            results: list[report.Result], options: GradeOptions) -> None:
    """Grade each picked mutant in turn, rewriting the report after each one."""
    deadline = time.monotonic() + args.budget_min * 60 if args.budget_min else None
    t0 = time.monotonic()
    for n, r in enumerate(results, 1):
        if deadline and time.monotonic() > deadline:
            log.warning("out of time (--budget-min %g): %d mutant(s) not run", args.budget_min, len(results) - n + 1)
            break
        m = r.mutant
        directory = out / "mutants" / m.id.replace("/", "_").replace(":", "_")
        path = materialise(m, directory / "part")
        r.verdict = grade(options, directory / "grade", (m.part, path))
        log.info("[%d/%d] %s (%s): %s%s in %.1fs", n, len(results), m.id, m.description, r.verdict.status,
                 f" by {r.verdict.item}" if r.verdict.item else "", r.verdict.duration_s)
        write(out, header, t0, mutants, results, partial=n < len(results))


def write(out: Path, header: dict[str, Any], t0: float, mutants: list[Mutant], results: list[report.Result],
          partial: bool) -> dict[str, Any]:
    result = report.summary({**header, "duration_s": round(time.monotonic() - t0, 1), "partial": partial},
                            mutants, results)
    report.write(result, out)
    return result


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C: the running grader is stopped with everything it started."""
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    started = datetime.datetime.now().astimezone()
    rubric = load_rubric(RUBRIC)
    items = select(rubric.lab(args.lab), args.only, f"rubric {RUBRIC}")
    parts = chosen_parts(args.lab, args.part)
    mutants = [m for p in parts for m in part_mutants(p)]
    if args.list:
        for m in mutants:
            print(f"{m.id:<40} {m.description}" + (f"  [stillborn: {m.stillborn}]" if m.stillborn else ""))
        return 0
    results = [report.Result(m) for m in pick(mutants, parts, args.sample, args.seed, args.mutant)]
    out = Path(args.out or REPO / ".wc-run" / "mutate" / f"lab{args.lab}-{started:%Y%m%d-%H%M%S}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    options = GradeOptions(args.lab, items, args.only, args.jobs_timeout_scale, corpora=out / "corpora")
    header = {"lab": args.lab, "seed": args.seed, "sample": args.sample, "only": args.only,
              "timeout_scale": args.jobs_timeout_scale, "started_at": started.isoformat(timespec="seconds"),
              "command": shlex.join(["python", "tests/mutate.py", *sys.argv[1:]]), "out": str(out)}
    t0 = time.monotonic()
    write(out, header, t0, mutants, results, partial=True)
    log.info("%d mutant(s) of %s, %d stillborn; grading %d", len(mutants), ", ".join(parts),
             sum(bool(m.stillborn) for m in mutants), len(results))
    code = 0
    try:
        failure = "" if args.no_baseline else baseline(options, out)
        if failure:
            print(f"error: {failure}", file=sys.stderr)
            code = 1
        else:
            measure(args, out, header, mutants, results, options)
    except KeyboardInterrupt:
        print("interrupted; the running grader was stopped with everything it started", file=sys.stderr)
        code = 130
    final = write(out, header, t0, mutants, results, partial=any(r.verdict is None for r in results))
    report.table(final, sys.stdout)
    print(f"report: {out / 'mutation.md'}")
    return code


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=args.log_level, format="mutate: %(message)s")
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return run(args)
    except (UserError, RegionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

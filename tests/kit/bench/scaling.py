"""The scaling table: how each configuration's ratio to the serial count moves with the corpus.

For each size of --scaling-sizes (default 10MB,50MB,200MB) the generator's
corpus of --files files, and then one huge file of the largest size (the
case a worker per file cannot split), each run in rounds (rounds.py): the
serial count, then Pool(2), Lab 1 with each --workers count and Lab 2 2x2.
A cell is the median over the rounds of run time / the serial time of the
same round, so a load spike on the machine moves both sides of a ratio
instead of one; times are in the JSON, not the table, because they say
more about the machine than about the code.
"""
from __future__ import annotations

import statistics
from dataclasses import replace
from typing import Any

from kit.bench.measure import Bench, generated
from kit.bench.report import same_round_ratio
from kit.bench.rounds import run_rounds, scaling_configs

from wordcount.corpus import parse_size

DEFAULT_SIZES = ("10MB", "50MB", "200MB")
ONE_FILE = "one file"


def corpora(sizes: list[str], files: int) -> list[tuple[str, str, int]]:
    """(label, size, files) of every scaling corpus, smallest first, the one huge file last."""
    ordered = sorted(sizes, key=parse_size)
    return [*((f"{s}, {files} files", s, files) for s in ordered), (f"{ordered[-1]}, {ONE_FILE}", ordered[-1], 1)]


def run_scaling(bench: Bench) -> list[dict[str, Any]]:
    """Every scaling corpus (generated now, or reused from the cache) in rounds; one row each."""
    plan = scaling_configs(bench.args)
    rows = []
    for i, (label, size, files) in enumerate(corpora(bench.args.scaling_sizes, bench.args.files)):
        one = replace(bench, data=generated(size, files), label=f"scale{i}-", stream_error=None)
        runs = run_rounds(one, plan)
        cells = {}
        for config in plan:
            ratio, check = same_round_ratio(runs, config.name)
            group = [r for r in runs.get(config.name, []) if r.ok]
            cells[config.name] = {"ratio": ratio, "check": check,
                                  "peak_kb": max((r.peak_kb or 0 for r in group), default=None),
                                  "times": [round(r.seconds, 3) for r in runs.get(config.name, [])],
                                  "error": next((r.error for r in runs.get(config.name, []) if r.error), "")}
        serial = [r.seconds for r in runs["serial"]]
        rows.append({"corpus": label, "size": size, "files": one.files, "bytes": one.bytes,
                     "serial_s": statistics.median(serial), "serial_times": [round(s, 3) for s in serial],
                     "serial_peak_kb": max(r.peak_kb or 0 for r in runs["serial"]), "cells": cells})
    return rows


def cell_text(cell: dict[str, Any]) -> str:
    if cell["check"].startswith("MISMATCH"):
        return "MISMATCH"
    return "failed" if cell["ratio"] is None else f"{cell['ratio']:.2f}x"


def print_scaling(rows: list[dict[str, Any]], repeat: int) -> None:
    if not rows:
        return
    names = list(rows[0]["cells"])
    print(f"\nscaling: median of {repeat} round(s) of time / serial time of the same round, same corpus")
    head = f"{'corpus':<24}{'serial s':>9}" + "".join(f"{n.replace(' ckpt 0.5s', ''):>18}" for n in names)
    print(head)
    print("-" * len(head))
    for row in rows:
        print(f"{row['corpus']:<24}{row['serial_s']:>9.2f}"
              + "".join(f"{cell_text(row['cells'][n]):>18}" for n in names))
    failed = [f"{row['corpus']} / {n}: {c['error']}" for row in rows for n, c in row["cells"].items() if c["error"]]
    for line in failed:
        print(f"  failed: {line}")


def scaling_mismatches(rows: list[dict[str, Any]]) -> list[str]:
    return [f"{row['corpus']} / {n}" for row in rows for n, c in row["cells"].items()
            if c["check"].startswith("MISMATCH")]

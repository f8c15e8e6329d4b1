"""`python -m wordcount.timeline TRACE [--png OUT] [--html OUT]`."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from wordcount.cli import run_main
from wordcount.timeline import render


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m wordcount.timeline",
        description="Draw a run's trace (RUN_DIR/JOB/trace.jsonl) as a timeline: a lane per process.")
    parser.add_argument("trace", metavar="TRACE", help="trace file written by a run")
    parser.add_argument("--png", metavar="OUT.png", help="write a PNG here (default: TRACE with .png, "
                        "unless only --html is given)")
    parser.add_argument("--html", metavar="OUT.html", help="also write a self-contained HTML page")
    args = parser.parse_args(argv)
    png = args.png or (None if args.html else str(Path(args.trace).with_suffix(".png")))
    render(args.trace, png, args.html)
    for out in filter(None, (args.html, png)):
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))

"""Generate a large synthetic corpus for benchmarks and stress tests.

    python data/generate.py [OUT_DIR] --size 50MB --files 200 [--csv-fraction 0.3]
                            [--seed 0] [--vocab 50000] [--zipf 1.1]

The command line of wordcount.corpus, the project's one generator (what the
words and files look like is described there). The same arguments give the
same bytes on any machine with the same Python minor version, so a benchmark
can regenerate instead of storing data. OUT_DIR defaults to
data/generated/<size>-<files>f-s<seed> (git-ignored); a MANIFEST.json in it
records the arguments, and a second run with the same arguments does nothing.
"""
from __future__ import annotations

import argparse
import logging
import re
import sys
from pathlib import Path
from typing import NoReturn, Sequence

from wordcount.corpus import CorpusError, Spec, generate

HERE = Path(__file__).resolve().parent
DEFAULTS = Spec(size=0, files=200)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line (no usage dump), like every other error."""

    def error(self, message: str) -> NoReturn:
        raise CorpusError(message)


def parse_args(argv: Sequence[str]) -> tuple[Spec, Path, bool]:
    parser = OneLineParser(
        prog="generate.py",
        description="Generate a deterministic synthetic corpus (.txt and tweet-like .csv) "
        "with Zipf-distributed pseudo-words.",
        epilog="Example: python data/generate.py --size 50MB --files 200. "
        "Sizes: B, KB, MB, GB (powers of 10) or KiB, MiB, GiB (powers of 2).")
    parser.add_argument("out", nargs="?", metavar="OUT_DIR",
                        help="output directory (default: data/generated/<size>-<files>f-s<seed>)")
    parser.add_argument("--size", default="50MB", help="total size of all files (default: 50MB)")
    parser.add_argument("--files", type=int, default=DEFAULTS.files, help="number of files (default: 200)")
    parser.add_argument("--csv-fraction", type=float, default=DEFAULTS.csv_fraction, metavar="F",
                        help="fraction of the files that are .csv, 0..1 (default: 0.3)")
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed, help="random seed (default: 0)")
    parser.add_argument("--vocab", type=int, default=DEFAULTS.vocab, metavar="N",
                        help="distinct words to draw from (default: 50000)")
    parser.add_argument("--zipf", type=float, default=DEFAULTS.zipf, metavar="S",
                        help="Zipf exponent: frequency of the k-th word ~ 1/k^S (default: 1.1)")
    parser.add_argument("--force", action="store_true",
                        help="replace an OUT_DIR made with other arguments (only its part-* files)")
    args = parser.parse_args(argv)
    spec = Spec.of(args.size, args.files, csv_fraction=args.csv_fraction, seed=args.seed, vocab=args.vocab,
                   zipf=args.zipf)
    out = Path(args.out) if args.out else default_out_dir(spec, args.size)
    return spec, out, args.force


def default_out_dir(spec: Spec, size_text: str) -> Path:
    label = re.sub(r"[^0-9A-Za-z.]", "", size_text)
    return HERE / "generated" / f"{label}-{spec.files}f-s{spec.seed}"


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        spec, out, force = parse_args(sys.argv[1:] if argv is None else argv)
        generate(spec, out, force)
    except CorpusError as exc:
        print(f"generate.py: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"generate.py: error: {exc.filename or ''}: {exc.strerror}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

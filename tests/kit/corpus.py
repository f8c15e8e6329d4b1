"""Corpora for the test suite, the grader and the benchmark, all from wordcount.corpus.

There is one generator (wordcount.corpus, whose CLI is data/generate.py);
this module only translates what each user asks for into its `Spec`:

* `synthetic(out, size, files, seed)`: what `python data/generate.py OUT
  --size SIZE --files FILES --seed SEED --force` makes (the grader's and the
  benchmark's corpora: the same arguments give the same bytes).
* `make_corpus(dir, n_files, seed, words_per_file, csv_files)`: the suite's
  small corpora, with exactly `n_files` .txt and `csv_files` .csv inputs
  (tests check the file count in the run record), every third .txt file moved
  to a `part2/` subdirectory (so every run also reads nested paths), and a
  600-word vocabulary, so that tables stay as small as tests need.
"""
from __future__ import annotations

import os
from pathlib import Path

from wordcount.corpus import Spec, generate

# Bytes per word of the generator with the suite's 600-word vocabulary: about
# 4.7 in .txt and 6.7 in .csv files (other columns); sizes are in bytes, tests think in words.
BYTES_PER_WORD = 5
TEST_VOCAB = 600
NESTED = "part2"


def synthetic(out: str | os.PathLike, size: str, files: int, seed: int = 0) -> Path:
    """The corpus `data/generate.py OUT --size SIZE --files FILES --seed SEED --force` makes."""
    return generate(Spec.of(size, files, seed=seed), Path(out), force=True)


def make_corpus(dir: str | os.PathLike, n_files: int = 20, seed: int = 0, words_per_file: int = 2000,
                csv_files: int = 0) -> Path:
    """A deterministic Zipf-ish corpus of `n_files` .txt files (every third one
    under part2/) and `csv_files` tweet-like .csv files of about
    `words_per_file` words each, whose quoted `text` column holds commas,
    quotes and newlines (the other columns hold tokens that must not count)."""
    root = Path(dir)
    files = n_files + csv_files
    spec = Spec.of(max(files * 16, files * words_per_file * BYTES_PER_WORD), files,
                   csv_fraction=csv_files / files, seed=seed, vocab=TEST_VOCAB)
    generate(spec, root)
    for i, path in enumerate(sorted(root.glob("part-*.txt"))):
        if i % 3 == 2:
            (root / NESTED).mkdir(exist_ok=True)
            path.rename(root / NESTED / path.name)
    return root

"""Grading data: the corpus each item counts, and the expected table for it.

A corpus is generated from the seed with the project's one generator
(kit.corpus.synthetic, i.e. `data/generate.py DIR --size S --files N --seed
SEED`), so a grade is reproducible from the report alone: the replay command
names the directory, and regenerating with the same arguments gives the same
bytes. The expected table is an independent serial count
(wordcount.table.serial_count) with the tokenizer settings the item's client
uses, computed once per corpus and settings.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from kit.corpus import synthetic
from kit.grading.rubric import Corpus
from wordcount.config import Settings
from wordcount.errors import UserError
from wordcount.inputs import find_inputs
from wordcount.table import serial_count

log = logging.getLogger("grade")


def corpus_dir(corpus: Corpus, seed: int, root: Path) -> Path:
    """Where a corpus goes: its name says everything it was made from."""
    return root / f"{corpus.name}-{corpus.size}-{corpus.files}f-s{seed}"


def generate(corpus: Corpus, seed: int, out: Path) -> Path:
    """Make the corpus in `out` (or find it there up to date)."""
    try:
        return synthetic(out, corpus.size, corpus.files, seed)
    except (UserError, OSError) as exc:
        raise UserError(f"cannot generate corpus {corpus.name}: {exc}") from None


@dataclass
class Expected:
    table: dict[str, int]
    serial_s: float  # best of the timed serial counts, for speed items


@dataclass
class Corpora:
    """Generated corpora and expected tables, made at most once per grading run."""

    seed: int
    root: Path
    given: Path | None = None  # --data DIR: used for every item instead of generated corpora
    _dirs: dict[str, Path] = field(default_factory=dict)
    _expected: dict[tuple, Expected] = field(default_factory=dict)

    def path(self, corpus: Corpus) -> Path:
        """Where the corpus is (or will be): known before it is generated."""
        return self.given if self.given is not None else corpus_dir(corpus, self.seed, self.root)

    def directory(self, corpus: Corpus) -> Path:
        """The corpus, generated on first use."""
        if self.given is not None:
            return self.given
        if corpus.name not in self._dirs:
            t0 = time.monotonic()
            self._dirs[corpus.name] = generate(corpus, self.seed, self.path(corpus))
            log.info("corpus %s (%s, %d files, seed %d) ready in %.1fs", corpus.name, corpus.size,
                     corpus.files, self.seed, time.monotonic() - t0)
        return self._dirs[corpus.name]

    def expected(self, data: Path, settings: Settings, retime: int = 0) -> Expected:
        """The serial count of `data` under `settings`, counted once.

        `retime` counts it that many more times (a speed item's reference time
        is then the best of those warm runs, measured next to the job).
        """
        spec = settings.tokenizer_spec()
        key = (str(data), tuple(settings.extensions), settings.csv_text_column, spec)
        paths = [f.path for f in find_inputs(str(data), tuple(settings.extensions), settings.csv_text_column)]
        have = self._expected.get(key)
        for _ in range(retime if have else max(retime, 1)):
            t0 = time.perf_counter()
            table = dict(serial_count(paths, spec))
            took = time.perf_counter() - t0
            have = Expected(table, min(took, have.serial_s) if have else took)
        assert have is not None
        if not have.table:
            raise UserError(f"the serial count of {data} has no words: grading on it could never fail")
        self._expected[key] = have
        return have

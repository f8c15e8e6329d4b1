"""What a word is.

Both jobs and the serial reference count call `count_file`, so a
disagreement between them is always a bug in the job, never a difference in
splitting rules.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from wordcount.csvtext import csv_texts
from wordcount.errors import UserError
from wordcount.parts import load_module

_LETTERS_DIGITS = re.compile(r"[^\W_]+")


def split_words(text: str) -> list[str]:
    """Default rule: whitespace-separated items, case and punctuation kept."""
    return text.split()


def normalized_words(text: str) -> list[str]:
    """Optional rule: lower-cased runs of Unicode letters and digits."""
    return _LETTERS_DIGITS.findall(text.lower())


TOKENIZERS: dict[str, Callable[[str], list[str]]] = {
    "split": split_words,
    "normalize": normalized_words,
}


@dataclass(frozen=True)
class TokenizerSpec:
    """Everything that decides how a file's bytes become words."""

    name: str = "split"
    csv_text_column: str = "text"
    module: str | None = None  # a swapped-in tokenizer part: a .py file defining words(text)

    def words_fn(self) -> Callable[[str], list[str]]:
        if self.module:
            return _load_words(self.module)
        try:
            return TOKENIZERS[self.name]
        except KeyError:
            raise UserError(
                f"unknown tokenizer {self.name!r}; choose one of {sorted(TOKENIZERS)}"
            ) from None


_loaded: dict[str, Callable[[str], list[str]]] = {}


def _load_words(path: str) -> Callable[[str], list[str]]:
    """The `words(text) -> list[str]` function of a tokenizer part, imported once."""
    if path not in _loaded:
        fn = getattr(load_module(Path(path), "tokenizer"), "words", None)
        if not callable(fn):
            raise UserError(f"tokenizer part {path} must define words(text) -> list[str]")
        _loaded[path] = fn
    return _loaded[path]


@dataclass
class FileCount:
    """Counts of one file plus what the summary needs to know about it."""

    counts: Counter[str]
    replaced: bool  # bytes that were not valid UTF-8 were replaced
    problems: list[str] = field(default_factory=list)  # "PATH:LINE: message" about odd CSV rows

    def warnings(self, path: str) -> list[str]:
        """Everything the summary should say about this file, one message each."""
        return ([utf8_warning(path)] if self.replaced else []) + self.problems


def utf8_warning(path: str) -> str:
    return f"{path} is not valid UTF-8; bad bytes were counted as U+FFFD"


def decode(data: bytes) -> tuple[str, bool]:
    """UTF-8 with replacement; also report whether anything was replaced.

    A leading byte-order mark (files saved as "UTF-8 with BOM") is not text.
    """
    try:
        return data.decode("utf-8-sig"), False
    except UnicodeDecodeError:
        return data.decode("utf-8-sig", errors="replace"), True


def count_bytes(data: bytes, is_csv: bool, spec: TokenizerSpec, name: str = "",
                into: Counter[str] | None = None) -> FileCount:
    """Count the words of one file's contents (added to `into`, if given)."""
    text, replaced = decode(data)
    words = spec.words_fn()
    counts: Counter[str] = Counter() if into is None else into
    problems: list[str] = []
    if is_csv:
        for cell in csv_texts(text, spec.csv_text_column, name, problems):
            counts.update(words(cell))
    else:
        counts.update(words(text))
    return FileCount(counts, replaced, problems)


def count_file(path: str, spec: TokenizerSpec) -> FileCount:
    """Read and count one input file."""
    with open(path, "rb") as fh:
        data = fh.read()
    return count_bytes(data, path.lower().endswith(".csv"), spec, path)

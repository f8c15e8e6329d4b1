"""A deterministic synthetic corpus: the project's one generator.

`python data/generate.py` is its command line; the grader's, the benchmark's and the
test suite's corpora (tests/kit/corpus.py) are made here too. It is in the installed
package, not under data/ (not importable), so all of them import it as it is.

Words are pseudo-words made from the seed (mostly ASCII syllables, some with
accents, Greek, Cyrillic, CJK or emoji, some with punctuation attached, some
hashtags and mentions) drawn with Zipf-like frequencies, so the word table
looks like natural language: a few very common words and a long tail. Files
are .txt (lines and paragraphs) or tweet-like .csv (a quoted `text` column
with embedded commas, quotes and newlines); sizes vary around the mean so
that batching by bytes matters.

The output depends only on the `Spec`: the same spec gives the same bytes on
any machine with the same Python minor version (all that the random module
promises). MANIFEST.json in the output directory records the spec, and
generating the same spec again does nothing.
"""
from __future__ import annotations

import csv
import io
import itertools
import json
import logging
import math
import operator
import random
import re
import sys
import time
from array import array
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Sequence

from wordcount.errors import UserError

log = logging.getLogger("generate")
MANIFEST = "MANIFEST.json"
FORMAT_VERSION = 1  # bump when the output for given arguments changes
UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}
MAX_SIZE = 100 * 10**9

CONSONANTS = "bcdfghjklmnprstvwz"
VOWELS = "aeiou"
ACCENTED = {"a": "áàâäå", "e": "éèêë", "i": "íìîï", "o": "óòôöø", "u": "úùûü"}
GREEK = "αβγδεζηθικλμνξοπρστυφχψω"
CYRILLIC = "абвгдежзийклмнопрстуфхцчшщыэюя"
EMOJI = ["😀", "😂", "🙏", "🔥", "📚", "✨", "🤔", "❤️", "👍🏽", "🇺🇸", "👩‍💻", "🎉", "☕", "🌍", "💡"]
ATTACHED = [",", ".", ";", ":", "!", "?", ")", "'s", "...", "—", "”"]
LEADING = ["(", '"', "“", "'", "¿"]
# Token separators in .txt files and how often each occurs.
TXT_SEPARATORS = [" ", "\n", "\n\n", "  ", "\t"]
TXT_SEP_WEIGHTS = [900, 70, 12, 12, 6]
CSV_SEPARATORS = [" ", "\n", "\n\n"]
CSV_SEP_WEIGHTS = [950, 40, 10]
CSV_HEADER = ["id", "created_at", "user", "text", "lang", "retweets"]
CHUNK_TOKENS = 200_000  # tokens drawn at once
WORD_TABLE_BITS = 22  # 4M-slot word table: 32 MB, probabilities exact to 2.4e-7


class CorpusError(UserError):
    """A spec (or output directory) that cannot make a corpus: one line, exit status 2."""


@dataclass(frozen=True)
class Spec:
    """Everything the output depends on (written to MANIFEST.json)."""

    size: int  # bytes of all files together
    files: int
    csv_fraction: float = 0.3
    seed: int = 0
    vocab: int = 50_000
    zipf: float = 1.1
    format_version: int = FORMAT_VERSION

    @classmethod
    def of(cls, size: str | int, files: int, **options: float) -> Spec:
        """A checked spec; `size` in bytes or like '50MB' (see parse_size)."""
        size_bytes = parse_size(size) if isinstance(size, str) else size
        return check_spec(cls(size_bytes, files, **options))  # type: ignore[arg-type]


def parse_size(text: str) -> int:
    """'50MB' -> 50_000_000; KB/MB/GB are decimal, KiB/MiB/GiB binary, bare = bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", text)
    unit = match.group(2).upper() if match else ""
    if not match or unit not in UNITS:
        raise CorpusError(f"bad size {text!r}; use a number with an optional unit, e.g. 50MB, 512KiB, 2GB")
    size = int(float(match.group(1)) * UNITS[unit])
    if not 1 <= size <= MAX_SIZE:
        raise CorpusError(f"size {text!r} is out of range (1 byte to 100GB)")
    return size


def check_spec(spec: Spec) -> Spec:
    """`spec`, unless its values would make a useless or endless run."""
    if not 1 <= spec.files <= 1_000_000:
        raise CorpusError(f"--files must be between 1 and 1000000 (got {spec.files})")
    if spec.size < spec.files * 16:
        raise CorpusError(f"--size is too small for {spec.files} files (at least 16 bytes per file)")
    if not 0.0 <= spec.csv_fraction <= 1.0:
        raise CorpusError(f"--csv-fraction must be between 0 and 1 (got {spec.csv_fraction})")
    if not 10 <= spec.vocab <= 1_000_000:
        raise CorpusError(f"--vocab must be between 10 and 1000000 (got {spec.vocab})")
    if not 0.0 < spec.zipf <= 5.0:
        raise CorpusError(f"--zipf must be > 0 and <= 5 (got {spec.zipf})")
    return spec


# -- vocabulary -----------------------------------------------------------------
def pseudo_word(rng: random.Random) -> str:
    """1-4 consonant-vowel(-consonant) syllables; short words are likelier."""
    syllables = rng.choices((1, 2, 3, 4), weights=(30, 40, 20, 10))[0]
    parts = []
    for _ in range(syllables):
        parts.append(rng.choice(CONSONANTS) + rng.choice(VOWELS))
        if rng.random() < 0.3:
            parts.append(rng.choice(CONSONANTS))
    return "".join(parts)


def foreign_word(rng: random.Random) -> str:
    """A non-ASCII word: accented Latin, Greek, Cyrillic, CJK or emoji."""
    kind = rng.random()
    if kind < 0.45:
        word = list(pseudo_word(rng))
        vowels = [i for i, c in enumerate(word) if c in ACCENTED]
        for i in rng.sample(vowels, k=min(len(vowels), rng.randint(1, 2))):
            word[i] = rng.choice(ACCENTED[word[i]])
        return "".join(word)
    if kind < 0.65:
        return "".join(rng.choices(GREEK, k=rng.randint(2, 8)))
    if kind < 0.85:
        return "".join(rng.choices(CYRILLIC, k=rng.randint(2, 9)))
    if kind < 0.95:
        return "".join(chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(rng.randint(1, 4)))
    return "".join(rng.choices(EMOJI, k=rng.randint(1, 3)))


def decorate(word: str, rng: random.Random) -> str:
    """Turn a plain word into the kinds of token real text has besides plain words."""
    kind = rng.random()
    if kind < 0.10:
        return word.capitalize()
    if kind < 0.22:
        return word + rng.choice(ATTACHED)
    if kind < 0.26:
        return rng.choice(LEADING) + word
    if kind < 0.28:
        return "#" + word
    if kind < 0.30:
        return "@" + word + str(rng.randint(0, 99))
    if kind < 0.32:
        return word + rng.choice(EMOJI)
    if kind < 0.33:
        return str(rng.randint(0, 100_000))
    return word


def make_vocabulary(spec: Spec) -> list[str]:
    """`spec.vocab` distinct tokens, most frequent first (short plain words lead)."""
    rng = random.Random(f"vocab/{spec.seed}")
    seen: set[str] = set()
    words: list[str] = []
    while len(words) < spec.vocab:
        base = foreign_word(rng) if rng.random() < 0.08 else pseudo_word(rng)
        token = base if len(words) < 50 else decorate(base, rng)
        if token not in seen:
            seen.add(token)
            words.append(token)
    head, tail = words[:50], words[50:]
    head.sort(key=len)  # the most common words of a language are short
    return head + tail


class TableSampler:
    """Draws from a fixed discrete distribution at C speed.

    random.choices costs ~0.4 us a draw (a Python-level bisect per item); a
    lookup table with one slot per 2**-bits of probability, indexed by bits of
    randbytes() through map(), costs about half that. Every item gets at
    least one slot, so probabilities are exact to about 2**-bits.
    """

    def __init__(self, items: Sequence[str], weights: Sequence[float], bits: int) -> None:
        size = 1 << bits
        total = math.fsum(weights)
        counts = [max(1, round(w * size / total)) for w in weights]
        head = max(range(len(counts)), key=counts.__getitem__)
        counts[head] += size - sum(counts)  # rounding error goes to the commonest item
        if counts[head] < 1:
            raise CorpusError(f"{len(items)} items do not fit a table of 2**{bits} slots")
        self.table = list(itertools.chain.from_iterable(map(itertools.repeat, items, counts)))
        self.shift = 32 - bits

    def draw(self, rng: random.Random, k: int) -> list[str]:
        if self.shift >= 24:  # <= 256 slots: one random byte per draw
            index: Iterable[int] = map(operator.rshift, rng.randbytes(k), itertools.repeat(self.shift - 24))
        else:
            raw = array("I", rng.randbytes(4 * k))
            if sys.byteorder == "big":  # same draws on every machine
                raw.byteswap()
            index = map(operator.rshift, raw, itertools.repeat(self.shift))
        return list(map(self.table.__getitem__, index))


# -- one file ---------------------------------------------------------------------
@dataclass
class Drawer:
    """Draws tokens and separators for one file from that file's own RNG."""

    words: TableSampler
    txt_separators: TableSampler
    csv_separators: TableSampler
    rng: random.Random


def interleave(words: list[str], separators: list[str]) -> str:
    """w0 s0 w1 s1 ... (slice assignment: no Python-level loop)."""
    out: list[str] = [""] * (2 * len(words))
    out[0::2] = words
    out[1::2] = separators[: len(words)]
    return "".join(out)


def txt_bytes(drawer: Drawer, target: int) -> bytes:
    """Text of about `target` bytes: words, lines and blank-line paragraphs."""
    out = io.BytesIO()
    while out.tell() < target:
        k = min(CHUNK_TOKENS, max(64, (target - out.tell()) // 5))
        words = drawer.words.draw(drawer.rng, k)
        out.write(interleave(words, drawer.txt_separators.draw(drawer.rng, k)).encode("utf-8"))
    data = out.getvalue()
    cut = max(data.rfind(b" ", 0, target), data.rfind(b"\n", 0, target))
    return data[: cut if cut > 0 else target].rstrip() + b"\n"


def csv_rows(drawer: Drawer, first_id: int, count: int) -> list[list]:
    """`count` tweet-like rows; the text has commas, quotes and newlines in it."""
    rng = drawer.rng
    lengths = rng.choices(range(3, 48), k=count)
    words = drawer.words.draw(rng, sum(lengths))
    seps = drawer.csv_separators.draw(rng, len(words))
    rows = []
    pos = 0
    for i, n in enumerate(lengths):
        text = interleave(words[pos:pos + n], seps[pos:pos + n]).rstrip()  # no trailing separator
        pos += n
        rows.append([first_id + i, f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
                     f"user{rng.randint(1, 5000)}", text, "und" if i % 17 == 0 else "en", rng.randint(0, 999)])
    return rows


def csv_bytes(drawer: Drawer, target: int) -> bytes:
    """A tweet-like CSV of about `target` bytes; every string field quoted."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC)
    writer.writerow(CSV_HEADER)
    parts = [out.getvalue().encode("utf-8")]
    size, next_id = len(parts[0]), 1
    row_bytes = 200.0  # running estimate of bytes per row
    while size < target:
        count = max(1, int((target - size) / row_bytes * 0.9))
        out.seek(0)
        out.truncate()
        writer.writerows(csv_rows(drawer, next_id, count))
        chunk = out.getvalue().encode("utf-8")
        parts.append(chunk)
        size += len(chunk)
        next_id += count
        row_bytes = len(chunk) / count
        if target - size < row_bytes / 2:
            break
    return b"".join(parts)


# -- the corpus -------------------------------------------------------------------
def file_plan(spec: Spec) -> list[tuple[str, int]]:
    """(file name, target bytes) for every file; sizes vary from 0.25x to 1.75x the mean."""
    rng = random.Random(f"plan/{spec.seed}")
    n_csv = round(spec.files * spec.csv_fraction)
    kinds = ["csv"] * n_csv + ["txt"] * (spec.files - n_csv)
    rng.shuffle(kinds)
    weights = [rng.uniform(0.25, 1.75) for _ in kinds]
    scale = spec.size / sum(weights)
    sizes = [max(16, int(w * scale)) for w in weights]
    width = max(5, len(str(spec.files - 1)))
    return [(f"part-{i:0{width}d}.{kind}", size) for i, (kind, size) in enumerate(zip(kinds, sizes))]


def write_corpus(spec: Spec, out: Path) -> tuple[int, int]:
    """Write every file; returns (files, bytes). Each file has its own RNG stream."""
    vocab = make_vocabulary(spec)
    zipf = [1.0 / k**spec.zipf for k in range(1, len(vocab) + 1)]  # frequency of the k-th word ~ 1/k^s
    words = TableSampler(vocab, zipf, WORD_TABLE_BITS)
    txt_seps = TableSampler(TXT_SEPARATORS, TXT_SEP_WEIGHTS, 8)
    csv_seps = TableSampler(CSV_SEPARATORS, CSV_SEP_WEIGHTS, 8)
    total = 0
    plan = file_plan(spec)
    for index, (name, target) in enumerate(plan):
        drawer = Drawer(words, txt_seps, csv_seps, random.Random(f"file/{spec.seed}/{index}"))
        data = csv_bytes(drawer, target) if name.endswith(".csv") else txt_bytes(drawer, target)
        (out / name).write_bytes(data)
        total += len(data)
    return len(plan), total


def read_manifest(out: Path) -> dict | None:
    try:
        return json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def prepare_dir(spec: Spec, out: Path, force: bool) -> bool:
    """Make `out` ready; False if it already holds exactly this corpus."""
    if out.exists() and not out.is_dir():
        raise CorpusError(f"{out} exists and is not a directory")
    manifest = read_manifest(out)
    if manifest and manifest.get("spec") == asdict(spec):
        return False
    ours = [p for p in out.glob("part-*") if p.suffix in (".txt", ".csv")] if out.is_dir() else []
    others = [p for p in out.iterdir() if p not in ours and p.name != MANIFEST] if out.is_dir() else []
    if (ours or manifest) and not force:
        raise CorpusError(f"{out} holds a corpus made with other arguments; pass --force to replace it")
    if others:
        raise CorpusError(f"{out} is not empty and was not made by generate.py; choose another OUT_DIR")
    out.mkdir(parents=True, exist_ok=True)
    for path in ours:
        path.unlink()
    (out / MANIFEST).unlink(missing_ok=True)
    return True


def generate(spec: Spec, out: Path, force: bool = False) -> Path:
    """Generate (or find up to date) the corpus for `spec` in `out`; returns `out`."""
    check_spec(spec)
    if not prepare_dir(spec, out, force):
        log.info("%s is up to date", out)
        return out
    t0 = time.perf_counter()
    files, total = write_corpus(spec, out)
    manifest = {"spec": asdict(spec), "files": files, "bytes": total}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    log.info("wrote %d files, %.1f MB, to %s in %.1fs", files, total / 1e6, out, time.perf_counter() - t0)
    return out

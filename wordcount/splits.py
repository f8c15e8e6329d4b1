"""Input splits: a large file becomes several byte ranges, and every range is
read in bounded chunks.

The cut rule, shared by the splitter and the chunk reader: cut only just
after an ASCII whitespace byte (space, \\t, \\n, \\v, \\f, \\r, \\x1c-\\x1f).
Such a byte is never part of a multi-byte UTF-8 sequence, the tokenizers
treat it as a separator, and Unicode case rules never look across it, so
decoding and counting each piece gives exactly the words of the whole file:
no word is cut, none is counted twice. Only the piece at offset 0 may start
with a byte-order mark. A file with no ASCII whitespace cannot be cut: it is
one range, read as one growing chunk (its single "word" is in the table
anyway).

CSV files are never split (a newline inside a quoted cell cannot be told from
a record end without parsing from the start), but they are read in chunks cut
just after a newline, fed to one csv reader: bounded memory, same records.
"""
from __future__ import annotations

import io
import os
import re
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Mapping

from wordcount.errors import UserError
from wordcount.inputs import InputFile
from wordcount.csvtext import csv_column_cells, csv_lines
from wordcount.tokenize import FileCount, TokenizerSpec, count_bytes

WHITESPACE = b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"
_FIRST_WS = re.compile(b"[" + re.escape(WHITESPACE) + b"]")
SCAN_BLOCK = 1 << 16  # bytes read at a time while looking for a cut
TAIL = 4096  # a chunk's last whitespace is looked for here first


FILE_CHANGED_EXIT = 5  # exit status of a worker or mapper that found a changed input


class FileChanged(UserError):
    """An input file changed after the job began; its ranges no longer fit it."""


def change_reported(log_path: str) -> str:
    """The FileChanged message a process logged before exiting with FILE_CHANGED_EXIT."""
    try:
        with open(log_path, encoding="utf-8", errors="replace") as fh:
            lines = [ln for ln in fh if "since the job began" in ln or "than when the job began" in ln]
    except OSError:
        lines = []
    if not lines:
        return f"an input file changed since the job began; rerun the job (see {log_path})"
    return lines[-1].strip().split("ERROR: ", 1)[-1]


@dataclass(frozen=True)
class Stamp:
    """What tells that a file changed since its ranges were computed."""

    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, st: os.stat_result) -> "Stamp":
        return cls(st.st_size, st.st_mtime_ns, st.st_ino)


@dataclass(frozen=True)
class Range:
    """Bytes [start, end) of one input file; `stamp` None for an old-style whole-file entry."""

    path: str
    start: int
    end: int
    stamp: Stamp | None = None

    @property
    def size(self) -> int:
        return self.end - self.start

    @property
    def is_csv(self) -> bool:
        return self.path.lower().endswith(".csv")

    def fields(self) -> dict[str, int | str]:
        """The stream entry: `path` and `size` (bytes of this range) as before, plus
        the range and the file's stamp at enqueue time."""
        out: dict[str, int | str] = {"path": self.path, "size": self.size, "start": self.start, "end": self.end}
        if self.stamp:
            out.update(file_size=self.stamp.size, mtime_ns=self.stamp.mtime_ns, inode=self.stamp.inode)
        return out

    @classmethod
    def from_fields(cls, f: Mapping[str, str]) -> "Range":
        """Inverse of `fields`; an entry with only `path` and `size` is the whole file."""
        if "start" not in f:
            return cls(f["path"], 0, int(f.get("size", -1)))
        stamp = None
        if "mtime_ns" in f:
            stamp = Stamp(int(f["file_size"]), int(f["mtime_ns"]), int(f.get("inode", 0)))
        return cls(f["path"], int(f["start"]), int(f["end"]), stamp)


# -- the splitter -----------------------------------------------------------------
def cut_after(fh: io.BufferedReader, target: int, limit: int) -> int:
    """The smallest offset c >= target (c <= limit) whose previous byte is ASCII
    whitespace; `limit` if there is none."""
    pos = max(target - 1, 0)
    fh.seek(pos)
    while pos < limit:
        block = fh.read(min(SCAN_BLOCK, limit - pos))
        if not block:
            break
        hit = _FIRST_WS.search(block)
        if hit:
            return max(pos + hit.start() + 1, target)
        pos += len(block)
    return limit


def split_file(f: InputFile, split_bytes: int) -> list[Range]:
    """Ranges of at most about `split_bytes` each, cut at word boundaries."""
    try:
        with open(f.path, "rb") as fh:
            stamp = Stamp.of(os.fstat(fh.fileno()))
            size = stamp.size
            n = -(-size // split_bytes) if size > split_bytes and not f.path.lower().endswith(".csv") else 1
            cuts = [0]
            for k in range(1, n):
                c = cut_after(fh, k * size // n, size)
                if c > cuts[-1] and c < size:
                    cuts.append(c)
    except OSError as exc:
        raise UserError(f"cannot read input file {f.path}: {exc.strerror}") from None
    cuts.append(size)
    return [Range(f.path, a, b, stamp) for a, b in zip(cuts, cuts[1:])] or [Range(f.path, 0, 0, stamp)]


def split_inputs(inputs: Iterable[InputFile], split_bytes: int) -> list[Range]:
    """Every range of every input, largest first (so the job's tail is small entries)."""
    ranges = [r for f in inputs for r in split_file(f, split_bytes)]
    return sorted(ranges, key=lambda r: (-r.size, r.path, r.start))


# -- the chunked range reader -----------------------------------------------------
def check_unchanged(fh: io.BufferedReader, rng: Range) -> None:
    """Fail clearly if the file is not the one the ranges were computed for."""
    if rng.stamp is None:
        return
    now = Stamp.of(os.fstat(fh.fileno()))
    if (now.size, now.mtime_ns) != (rng.stamp.size, rng.stamp.mtime_ns) or (
            rng.stamp.inode and now.inode != rng.stamp.inode):
        raise FileChanged(f"{rng.path} changed since the job began (size/mtime); rerun the job")


CSV_WHOLE_BYTES = 64 << 20  # a CSV file up to this size is read whole, for its row warnings


def last_separator(data: bytes, separators: bytes) -> int:
    """Index of the last byte of `data` that is one of `separators`, or -1."""
    for lo in (max(len(data) - TAIL, 0), 0):
        best = max(data.rfind(separators[i:i + 1], lo) for i in range(len(separators)))
        if best >= 0 or lo == 0:
            return best
    return -1


def read_chunks(fh: io.BufferedReader, rng: Range, chunk_bytes: int,
                separators: bytes = WHITESPACE) -> Iterator[bytes]:
    """The bytes of `rng` in pieces of about `chunk_bytes`, each (but the last)
    ending just after a separator byte; a piece with none grows until one comes."""
    fh.seek(rng.start)
    pos, end = rng.start, rng.end
    parts: list[bytes] = []
    while pos < end:
        data = fh.read(min(chunk_bytes, end - pos))
        if not data:
            raise FileChanged(f"{rng.path} is shorter than when the job began; rerun the job")
        pos += len(data)
        if pos >= end:
            break
        cut = last_separator(data, separators)
        if cut < 0:
            parts.append(data)
            continue
        parts.append(data[:cut + 1])
        yield b"".join(parts)
        parts = [data[cut + 1:]]
    else:
        data = b""
    parts.append(data)
    tail = b"".join(parts)
    if tail:
        yield tail


def decode_piece(data: bytes, at_file_start: bool) -> tuple[str, bool]:
    """UTF-8 with replacement (and whether anything was replaced); a BOM is
    dropped only at the start of the file, as whole-file decoding does."""
    codec = "utf-8-sig" if at_file_start else "utf-8"
    try:
        return data.decode(codec), False
    except UnicodeDecodeError:
        return data.decode(codec, errors="replace"), True


def decoded_chunks(rng: Range, chunk_bytes: int, separators: bytes = WHITESPACE,
                   on_chunk: Callable[[int], None] | None = None) -> Iterator[tuple[str, bool]]:
    """(text, replaced) of each chunk of `rng`, checking the file's stamp before
    and after; `on_chunk(bytes)` is called after each chunk is consumed."""
    with open(rng.path, "rb") as fh:
        check_unchanged(fh, rng)
        first = rng.start == 0
        for data in read_chunks(fh, rng, chunk_bytes, separators):
            yield decode_piece(data, first)
            first = False
            if on_chunk:
                on_chunk(len(data))
        check_unchanged(fh, rng)


def count_range(rng: Range, spec: TokenizerSpec, chunk_bytes: int,
                on_chunk: Callable[[int], None] | None = None, into: Counter[str] | None = None) -> FileCount:
    """Count the words of one range chunk by chunk: memory stays bounded by the
    chunk (and the word table), and `on_chunk` can keep the entry alive. With
    `into`, the counts are added to that Counter (a worker sums a whole batch
    there) and the result's `counts` is it."""
    if rng.is_csv and rng.end - rng.start <= CSV_WHOLE_BYTES:
        return _count_csv_whole(rng, spec, on_chunk, into)
    words = spec.words_fn()
    counts: Counter[str] = Counter() if into is None else into
    replaced = []
    if rng.is_csv:
        def lines() -> Iterator[str]:
            for text, bad in decoded_chunks(rng, chunk_bytes, b"\n", on_chunk):
                replaced.append(bad)
                yield from csv_lines(text)

        for cell in csv_column_cells(lines(), spec.csv_text_column, rng.path):
            counts.update(words(cell))
    else:
        for text, bad in decoded_chunks(rng, chunk_bytes, WHITESPACE, on_chunk):
            replaced.append(bad)
            counts.update(words(text))
    return FileCount(counts, any(replaced))


def _count_csv_whole(rng: Range, spec: TokenizerSpec, on_chunk: Callable[[int], None] | None,
                     into: Counter[str] | None) -> FileCount:
    """A CSV file of at most CSV_WHOLE_BYTES, read whole: its odd rows (ragged,
    an unclosed quote) can then be reported with their line numbers
    (wordcount/csvtext.py). Larger ones are streamed, counted the same, without
    those warnings."""
    with open(rng.path, "rb") as fh:
        check_unchanged(fh, rng)
        fh.seek(rng.start)
        data = fh.read(rng.end - rng.start)
        check_unchanged(fh, rng)
    result = count_bytes(data, True, spec, rng.path, into)
    if on_chunk:
        on_chunk(len(data))
    return result

"""The text column of a CSV file, and warnings about rows that are not what the header says.

What is counted (docs/lab1.md): the `csv_text_column` cell of every data row.
A ragged row with fewer cells than the header may have no such cell; then
nothing of it is counted. A row with more cells still has it; it is counted.
An opening quote that is never closed makes the csv module read the rest of
the file as one cell, which is then counted as text. None of this changes
with the warnings: they only say where the file was odd, as
"PATH:LINE: message" strings that travel with the counts to the summary.
"""
from __future__ import annotations

import csv
import io
import itertools
import sys
from typing import Iterable, Iterator

from wordcount.errors import UserError

csv.field_size_limit(sys.maxsize)  # a tweet column may hold a whole book in one cell
MAX_ROW_WARNINGS = 3  # per file; then one line with the number of further odd rows


def csv_texts(text: str, column: str, name: str = "<csv>", warnings: list[str] | None = None) -> Iterable[str]:
    """The `column` cell of every data row (header skipped, quoted newlines kept).

    With `warnings`, appends one message per odd row (up to MAX_ROW_WARNINGS,
    then a count) and one for an unclosed quote, as the rows are consumed.
    """
    # NUL bytes make the csv module of Python 3.10 raise; they are never part of a word.
    text = text.replace("\0", "")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        return []
    try:
        idx = header.index(column)
    except ValueError:
        raise UserError(
            f"{name}: CSV has no {column!r} column (set csv_text_column in config)"
        ) from None
    if warnings is None:
        return (row[idx] for row in reader if len(row) > idx)
    return _checked_cells(reader, text, idx, len(header), column, name, warnings)


def _checked_cells(reader, text: str, idx: int, width: int, column: str, name: str,
                   warnings: list[str]) -> Iterator[str]:
    """Like the plain generator, noting ragged rows and a quote left open at the end."""
    odd = 0
    start = reader.line_num + 1
    last_start: int | None = None  # first line of the last row read
    for row in reader:
        if row and len(row) != width:
            odd += 1
            if odd <= MAX_ROW_WARNINGS:
                warnings.append(_ragged(name, start, len(row), width, column, len(row) > idx))
        if len(row) > idx:
            yield row[idx]
        last_start, start = start, reader.line_num + 1
    if odd > MAX_ROW_WARNINGS:
        warnings.append(f"{name}: {odd - MAX_ROW_WARNINGS} more rows whose number of cells is not "
                        f"the header's {width}")
    if last_start is not None and text.count('"') % 2 and _open_quote_at_end(text, last_start):
        warnings.append(f"{name}:{last_start}: a quote opened here is never closed: lines "
                        f"{last_start}-{reader.line_num} were read as one row, the rest of its cell as text")


def _ragged(name: str, line: int, cells: int, width: int, column: str, has_text: bool) -> str:
    effect = f"its {column!r} cell was counted" if has_text else f"no {column!r} cell, nothing counted"
    return f"{name}:{line}: row has {cells} cell{'s' if cells != 1 else ''}, the header {width}: {effect}"


def _open_quote_at_end(text: str, line: int) -> bool:
    """Whether the row starting at `line` ends inside a quoted cell at the end of the file.

    Only called when the file has an odd number of quote characters (a
    well-formed CSV has an even number), so a normal file pays one count().
    """
    lines = io.StringIO(text, newline="")
    rest = "".join(itertools.islice(lines, line - 1, None))
    try:
        for _ in csv.reader(io.StringIO(rest, newline=""), strict=True):
            pass
    except csv.Error as exc:
        return "unexpected end of data" in str(exc)
    return False

"""The arguments of one `FCALL wc_commit`: a batch's entries and merged counts.

The counts go as one packed argument, "word\\tcount\\n..." (words never contain
ASCII whitespace), which the library parses: one bulk string instead of two
per word saves the worker most of its encoding time and Redis its argument
parsing. A course-style library without the packed form gets word/count pairs.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Mapping, Protocol

from wordcount.keys import WARNING_SEP


class Committable(Protocol):
    entry_id: str
    size: int
    path: str
    warnings: list[str]
    counts: Counter | None


def merged_counts(items: Iterable[Committable]) -> Mapping[str, int]:
    """The sum of the items' counts (the first one's table is reused, not copied)."""
    tables = [i.counts for i in items if i.counts]
    if len(tables) == 1:
        return tables[0]
    merged: Counter = Counter()
    for t in tables:
        merged.update(t)
    return merged


def pack(counts: Mapping[str, int]) -> str:
    """"word\\tcount\\n" for every word, in one string."""
    if not counts:
        return ""
    return "\n".join(map("\t".join, zip(counts, map(str, counts.values())))) + "\n"


def commit_args(group: str, items: list[Committable], packed: bool) -> list:
    """<group> <n> (<id> <bytes> <warnings or ''>)*n and the counts; an entry's
    warnings ("not UTF-8", odd CSV rows) travel joined by WARNING_SEP."""
    args: list = [group, len(items)]
    for item in items:
        args += [item.entry_id, item.size, WARNING_SEP.join(item.warnings)]
    counts = merged_counts(items)
    if packed:
        args.append(pack(counts))
    else:
        for word, n in counts.items():
            args += [word, n]
    return args

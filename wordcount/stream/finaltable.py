"""A reducer's share of the final table, as its final checkpoint stores it.

The reference reducer's final snapshot holds `"table"` instead of `"counts"`:
its words in output order, one (count, words) pair per count, highest count
first, the words of a count as one bytes string, UTF-8, sorted, joined by
newlines (no word holds a newline: word-count messages carry words joined
by them). Why: every reducer orders its own words at once, at the end of
the job, and the launcher loads the parts almost for free (marshal copies
one bytes string per count instead of building 350 000 str objects and a
dict twice over) and only merges them. On the mixed benchmark corpus that
took the launcher's part of the end from about 0.5 s to 0.15 s.

The launcher trusts the parts only after `decode` checked every one (counts
positive integers, words non-empty and strictly increasing within a count)
and no word is in two places; otherwise it sums them as word -> count
tables (`counts_of` of the decoded groups), or fails on one it cannot read. A reducer that keeps
`"counts"` (the course contract; a swapped-in one) is summed as before.
"""
from __future__ import annotations

import itertools
import operator
from operator import methodcaller
from typing import Any, Mapping

from wordcount.table import MergedOrdered, by_count

_UTF8 = methodcaller("encode", "utf-8", "surrogateescape")  # a word decoded with surrogateescape gets its bytes back

Groups = list[tuple[int, list[bytes]]]


def encode(counts: Mapping[str, int]) -> list[tuple[int, bytes]] | None:
    """`counts` as the final snapshot's "table", or None if some word has no
    UTF-8 form (a lone surrogate from a swapped-in mapper) or holds a newline:
    then the snapshot keeps "counts"."""
    table = []
    for count, words in sorted(by_count(counts.items()).items(), reverse=True):
        try:
            encoded = list(map(str.encode, words))  # strict UTF-8, the fast path
        except UnicodeEncodeError:
            try:
                encoded = list(map(_UTF8, words))
            except UnicodeEncodeError:
                return None
        encoded.sort()
        blob = b"\n".join(encoded)
        if blob.count(b"\n") != len(encoded) - 1:
            return None
        table.append((count, blob))
    return table


def decode(table: Any) -> Groups:
    """The (count, sorted words) groups of a stored "table"; ValueError if it
    is not one `encode` could have written."""
    if table is None:
        raise ValueError('it holds neither "counts" nor "table"')
    if not isinstance(table, list):
        raise ValueError("the table is not a list")
    groups: Groups = []
    for entry in table:
        if not (isinstance(entry, (tuple, list)) and len(entry) == 2):
            raise ValueError("a table entry is not a (count, words) pair")
        count, blob = entry
        if type(count) is not int or count < 1 or type(blob) is not bytes or not blob:
            raise ValueError(f"bad entry for count {count!r}")
        words = blob.split(b"\n")
        if not words[0] or not all(map(operator.lt, words, words[1:])):
            raise ValueError(f"the words of count {count} are not distinct, non-empty and sorted")
        groups.append((count, words))
    return groups


def counts_of(groups: Groups) -> dict[str, int]:
    """`decode`d groups as word -> count (a restore, or a launcher that sums);
    ValueError if they name a word twice."""
    counts = {w.decode("utf-8", "surrogateescape"): c for c, words in groups for w in words}
    if len(counts) != sum(len(words) for _, words in groups):
        raise ValueError("a word is listed under two counts")
    return counts


def merged(parts: list[Groups]) -> MergedOrdered | None:
    """The whole table from every reducer's `decode`d table, or None when some
    word is in two places (a swapped-in mapper that does not partition: the
    caller sums instead)."""
    words = [words for groups in parts for _, words in groups]
    if len(set(itertools.chain.from_iterable(words))) != sum(map(len, words)):
        return None
    return MergedOrdered(parts)

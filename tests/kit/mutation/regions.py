"""Solution regions and mutants: the vocabulary shared by the Python and Lua operators.

A mutant may change only code the student writes, i.e. the lines strictly
between a `BEGIN SOLUTION` and its `END SOLUTION` marker (the same markers
tests/handout.py stubs): a bug anywhere else is not one a student could make,
so it says nothing about the rubric.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

# The marker syntax of tests/handout.py (Python `#`, Lua `--`), matched the same way.
_BEGIN = re.compile(r"^\s*(#|--) BEGIN SOLUTION\b")
_END = re.compile(r"^\s*(#|--) END SOLUTION\s*$")


class RegionError(Exception):
    """Unbalanced markers: the file cannot be mutated (nor handed out)."""


@dataclass(frozen=True)
class Region:
    """Lines first..last (1-based, inclusive) strictly inside one pair of markers."""

    first: int
    last: int

    def holds(self, first: int, last: int) -> bool:
        return self.first <= first and last <= self.last


def find_regions(text: str, name: str = "<text>") -> list[Region]:
    """Every solution region of `text`, in order."""
    regions: list[Region] = []
    begin: int | None = None
    for lineno, line in enumerate(text.splitlines(), 1):
        if _BEGIN.match(line):
            if begin is not None:
                raise RegionError(f"{name}:{lineno}: nested BEGIN SOLUTION")
            begin = lineno
        elif _END.match(line):
            if begin is None:
                raise RegionError(f"{name}:{lineno}: END SOLUTION without BEGIN")
            regions.append(Region(begin + 1, lineno - 1))
            begin = None
    if begin is not None:
        raise RegionError(f"{name}: BEGIN SOLUTION never closed")
    return regions


def inside(regions: list[Region], first: int, last: int) -> bool:
    """Whether lines first..last lie wholly within one region."""
    return any(r.holds(first, last) for r in regions)


@dataclass(frozen=True)
class Mutant:
    """One small change of one file of one part.

    `id` is stable for a given reference source (part, operator, line, column
    and a counter), so `--mutant ID` names the same change run after run.
    `stillborn` says why the mutant is not worth grading (it does not compile,
    or normalises to the reference), or is "".
    """

    id: str
    part: str
    file: str  # path relative to the repository, e.g. worker.py or mapper/mapper.py
    operator: str
    line: int
    description: str
    original: str
    mutated: str
    stillborn: str = ""

    def diff(self) -> str:
        return "".join(difflib.unified_diff(
            self.original.splitlines(keepends=True), self.mutated.splitlines(keepends=True),
            f"a/{self.file}", f"b/{self.file}", n=2))

    def outside_unchanged(self) -> bool:
        """Whether every line outside the solution regions (markers included) is the reference's."""
        return outside(self.mutated, self.file) == outside(self.original, self.file)


def outside(text: str, name: str = "<text>") -> list[str]:
    """The lines of `text` outside its solution regions, the markers included."""
    regions = find_regions(text, name)
    return [line for n, line in enumerate(text.splitlines(), 1) if not inside(regions, n, n)]

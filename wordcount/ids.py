"""The id of a Lab 2 worker process: "mapper-0", "reducer-1", ...

Ids travel as plain strings (wire messages, file names, dict keys, logs); this
type is where such a string is built or taken apart, so that "mapper-01",
"mapper-x" or "worker-0" are refused in one place instead of each caller
splitting on "-" its own way.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

MAPPER = "mapper"
REDUCER = "reducer"
KINDS = (MAPPER, REDUCER)
# no leading zeros, so that str(WorkerId.parse(text)) == text for every accepted text
_ID = re.compile(r"(mapper|reducer)-(0|[1-9][0-9]*)")


@dataclass(frozen=True, order=True)
class WorkerId:
    kind: str  # MAPPER or REDUCER
    index: int  # 0-based, per kind

    def __post_init__(self) -> None:
        if self.kind not in KINDS or self.index < 0:
            raise ValueError(f"not a worker id: kind {self.kind!r}, index {self.index}")

    def __str__(self) -> str:
        return f"{self.kind}-{self.index}"

    @property
    def is_mapper(self) -> bool:
        return self.kind == MAPPER

    @property
    def short(self) -> str:
        """'m0', 'r1': the compact form of the launcher's status line."""
        return f"{self.kind[0]}{self.index}"

    @classmethod
    def parse(cls, text: str) -> WorkerId:
        """'mapper-0' -> WorkerId('mapper', 0); ValueError for anything else."""
        match = _ID.fullmatch(text)
        if match is None:
            raise ValueError(f"not a worker id: {text!r} (expected mapper-N or reducer-N)")
        return cls(match[1], int(match[2]))

    @classmethod
    def try_parse(cls, text: str) -> WorkerId | None:
        """Like `parse`, but None for a string from the network that is not an id."""
        try:
            return cls.parse(text)
        except ValueError:
            return None


def mapper(index: int) -> WorkerId:
    return WorkerId(MAPPER, index)


def reducer(index: int) -> WorkerId:
    return WorkerId(REDUCER, index)


def all_ids(mappers: int, reducers: int) -> list[WorkerId]:
    """Every worker of an M x R job, mappers first (seeded plans rely on this order)."""
    return [mapper(i) for i in range(mappers)] + [reducer(i) for i in range(reducers)]


def all_names(mappers: int, reducers: int) -> list[str]:
    """`all_ids` as the strings that go on the wire and into dicts."""
    return [str(w) for w in all_ids(mappers, reducers)]

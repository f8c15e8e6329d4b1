"""Every Redis key both jobs use, named in this one place.

All keys of a job share the prefix `wc:<job id>:`, and the job id is new for
every run, so a job never reads or adds to an earlier job's keys even on a
shared server.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass

FUNCTION_LIBRARY = "wordcount"  # name in lua/wordcount.lua's shebang line
COMMIT_FUNCTION = "wc_commit"
WARNING_SEP = "\0"  # joins one file's warnings in one member of the warnings set (no path holds NUL)


def new_job_id() -> str:
    """Short, unique enough to never collide between runs on one server."""
    return secrets.token_hex(4)


@dataclass(frozen=True)
class JobKeys:
    job: str

    @property
    def prefix(self) -> str:
        return f"wc:{self.job}:"

    @property
    def files(self) -> str:
        """Lab 1 stream: one entry per input file, fields path and size."""
        return self.prefix + "files"

    @property
    def group(self) -> str:
        """Lab 1 consumer group every worker reads through."""
        return self.prefix + "workers"

    @property
    def counts(self) -> str:
        """Lab 1 result: hash word -> count."""
        return self.prefix + "counts"

    @property
    def partials(self) -> str:
        """Lab 1 list: packed partial tables ("word\\tcount\\n"...), one per commit,
        merged with `counts` by the client at the end (lua/wordcount.lua)."""
        return self.prefix + "partials"

    @property
    def progress(self) -> str:
        """Lab 1 hash: files, bytes (committed), stolen (entries claimed),
        partial_bytes (the size of `partials`)."""
        return self.prefix + "progress"

    @property
    def warnings(self) -> str:
        """Lab 1 set: per file with warnings, its messages joined by WARNING_SEP (a bare
        path, from an older worker, means the file needed UTF-8 replacement characters)."""
        return self.prefix + "warnings"

    @property
    def meta(self) -> str:
        """Hash written once at job creation: total files, last entry id."""
        return self.prefix + "meta"

    def mapper_stream(self, idx: int) -> str:
        """Lab 2: the input stream of mapper `idx`."""
        return f"{self.prefix}mapper:{idx}"

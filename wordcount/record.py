"""The run record: what one job did, as one JSON object with stable field names.

Both jobs fill a `RunRecord` at the end of a successful run and write it to
`<run dir>/<job>/run.json` (and to `--record FILE`); the grader, the benchmark
and the tests read it back with `RunRecord.read`, so a field is named in one
place and a misspelt one is an AttributeError instead of a silent `None`.
Every field is documented once, in docs/record.md.

One class serves both kinds (`kind` is "batch" or "stream"): a field the other
kind does not measure stays None, which means "not measured by this kind of
job", never "zero". To add a field, give it a default here (None, or an
empty dict for counts by reason) and a row in docs/record.md: older records
then read with the default, and older readers keep the new key in `extra`.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from wordcount.atomic import atomic_write

RECORD_FILE = "run.json"
KINDS = ("batch", "stream")


class RecordError(ValueError):
    """A file that is not a run record (not JSON, or not an object)."""


@dataclass
class RunRecord:
    """One job's record; see docs/record.md for what each field means."""

    kind: str = ""  # "batch" (Lab 1) or "stream" (Lab 2)
    job: str = ""
    elapsed_s: float | None = None  # Redis start to table read, in seconds
    files: int | None = None
    bytes: int | None = None
    run_path: str | None = None  # <run dir>/<job>: logs, trace, settings
    trace: str | None = None  # the job's trace.jsonl
    chaos: dict[str, Any] | None = None  # the --chaos (or --kill-at) plan and what fired; None without one
    redis_refused: dict[str, int] | None = None  # what the private Redis's ACL log refused, by reason
    # Lab 1 (batch); None in a stream record.
    workers: int | None = None
    stolen: int | None = None
    stolen_live: int | None = None  # of those, entries taken from a worker that was making progress (0)
    redis_commands: int | None = None  # requests (read events) to the private Redis, all restarts; None on a shared one
    progress_mismatch: int | None = None  # |entries - progress files| + |input bytes - progress bytes| at the end (0)
    warnings: int | None = None  # input warnings the job reported (not UTF-8, odd CSV rows)
    redis_restarts: int | None = None
    replacements: int | None = None
    # Lab 2 (stream); None in a batch record.
    mappers: int | None = None
    reducers: int | None = None
    checkpoint_interval_s: float | None = None
    checkpoints_completed: int | None = None
    final_checkpoint_id: int | None = None
    recovery_id: int | None = None
    kills: int | None = None
    recoveries: list[dict[str, Any]] | None = None  # one per failed worker (docs/record.md)
    net: dict[str, Any] | None = None  # the injected network faults (stream.net); None without any
    zombies: list[dict[str, Any]] | None = None  # superseded remote processes and how they ended
    zombies_exited: int | None = None  # ... of which exited by themselves
    zombies_stopped: int | None = None  # ... of which were still running at the end and were stopped
    auth: bool | None = None  # frames authenticated (False only under WC_INSECURE_NO_AUTH=1)
    rejected: dict[str, int] | None = None  # frames dropped, by reason, all processes together
    rejected_by: dict[str, dict[str, int]] | None = None  # the same per process
    # Keys of a newer version's record that this version does not know, kept
    # so that reading and writing a record back loses nothing.
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls) if f.name != "extra")

    @classmethod
    def number_fields(cls) -> tuple[str, ...]:
        """The fields that hold a number: what a rubric's `expect` may compare."""
        return tuple(f.name for f in fields(cls) if str(f.type).split(" |")[0] in ("int", "float"))

    def number(self, name: str) -> float | None:
        """The value of a numeric field, None if it is unknown or holds no number."""
        value = getattr(self, name, None) if name in self.number_fields() else None
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    def to_json(self) -> dict[str, Any]:
        known = asdict(self)
        extra = known.pop("extra")
        return {**extra, **known}

    def write(self, run_path: str, extra_path: str | None = None) -> None:
        """Write run.json in the job's run directory, and to `extra_path` (--record) if given.

        Written atomically: a reader polling for the record never sees half of it.
        """
        data = (json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n").encode("utf-8")
        for path in filter(None, (os.path.join(run_path, RECORD_FILE), extra_path)):
            atomic_write(path, data)

    @classmethod
    def from_json(cls, raw: Any) -> RunRecord:
        """A record from its JSON object; keys this version does not know go to `extra`."""
        if not isinstance(raw, dict):
            raise RecordError(f"a run record is a JSON object, not {type(raw).__name__}")
        names = cls.field_names()
        known = {k: v for k, v in raw.items() if k in names}
        return cls(**known, extra={k: v for k, v in raw.items() if k not in names})

    @classmethod
    def read(cls, path: str | os.PathLike) -> RunRecord:
        """Read a record written by any version (OSError if it is missing, RecordError if it is not one)."""
        with open(path, encoding="utf-8") as fh:
            try:
                raw = json.load(fh)
            except ValueError as exc:
                raise RecordError(f"{path}: not JSON ({exc})") from None
        return cls.from_json(raw)

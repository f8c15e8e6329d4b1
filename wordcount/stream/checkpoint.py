"""Checkpoint files of the streaming job: atomic write, checked read, cleanup.

One file per (worker, checkpoint id): `<dir>/<worker>.<id:08d>.ckpt`. A file
is written to a temporary name, fsynced, renamed and the directory fsynced, so
a crash leaves either the old set of files or the new one, never half a file.
The content is a header line `wc-checkpoint 2 <crc32 hex> <body length>`
followed by the body, the document in Python's `marshal` format (format 1, a
JSON body, is still read); reading checks both, so a truncated or altered file
is reported as corrupt instead of being loaded. marshal writes and reads a
reducer's word table several times faster than JSON, which matters because
every checkpoint holds the whole table; it is safe here because the files are
our own and checksummed before they are loaded. Checkpoint id 0 is never a
file: it means "the beginning", the state every worker starts in.
"""
from __future__ import annotations

import json
import marshal
import os
import re
import zlib
from typing import Any

from wordcount.atomic import atomic_write

MAGIC = "wc-checkpoint"
FORMAT = 2  # marshal body; 1 = JSON body (still read)
BEGINNING = 0  # checkpoint id meaning "no checkpoint: start from scratch"
_NAME = re.compile(r"^(?P<worker>[A-Za-z0-9_-]+)\.(?P<id>\d{8})\.ckpt$")


class CheckpointError(Exception):
    """A checkpoint that recovery needs is missing or corrupt."""


def path_for(directory: str, worker: str, checkpoint_id: int) -> str:
    return os.path.join(directory, f"{worker}.{checkpoint_id:08d}.ckpt")


def write(directory: str, worker: str, checkpoint_id: int, state: dict[str, Any]) -> str:
    """Durably store `state` as `worker`'s checkpoint `checkpoint_id`; returns the path."""
    if checkpoint_id <= BEGINNING:
        raise ValueError("checkpoint ids start at 1; 0 means the beginning")
    body = marshal.dumps({"worker": worker, "checkpoint_id": checkpoint_id, "state": state})
    header = f"{MAGIC} {FORMAT} {zlib.crc32(body):08x} {len(body)}\n".encode()
    final = path_for(directory, worker, checkpoint_id)
    atomic_write(final, header + body)
    return final


def read(directory: str, worker: str, checkpoint_id: int) -> dict[str, Any]:
    """The state saved by `write`; CheckpointError if missing or corrupt."""
    path = path_for(directory, worker, checkpoint_id)
    try:
        with open(path, "rb") as fh:
            header = fh.readline(200)
            body = fh.read()
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {checkpoint_id} of {worker} is missing ({path})") from None
    except OSError as exc:
        raise CheckpointError(f"checkpoint {checkpoint_id} of {worker} is unreadable: {exc}") from None
    return _parse(path, worker, checkpoint_id, header, body)


def _parse(path: str, worker: str, checkpoint_id: int, header: bytes, body: bytes) -> dict[str, Any]:
    what = f"checkpoint {checkpoint_id} of {worker} is corrupt ({path})"
    parts = header.decode("ascii", errors="replace").split()
    if len(parts) != 4 or parts[0] != MAGIC or parts[1] not in ("1", str(FORMAT)):
        raise CheckpointError(f"{what}: bad header")
    if not parts[3].isdigit() or int(parts[3]) != len(body):
        raise CheckpointError(f"{what}: truncated (header says {parts[3]} bytes, found {len(body)})")
    if parts[2] != f"{zlib.crc32(body):08x}":
        raise CheckpointError(f"{what}: checksum mismatch")
    try:
        doc = json.loads(body) if parts[1] == "1" else marshal.loads(body)
    except (UnicodeDecodeError, ValueError, EOFError, TypeError):
        raise CheckpointError(f"{what}: body cannot be decoded") from None
    if not isinstance(doc, dict) or doc.get("worker") != worker or doc.get("checkpoint_id") != checkpoint_id:
        raise CheckpointError(f"{what}: it belongs to another worker or checkpoint")
    if not isinstance(doc.get("state"), dict):
        raise CheckpointError(f"{what}: no state")
    return doc["state"]


def saved_ids(directory: str, worker: str) -> list[int]:
    """Checkpoint ids `worker` has files for, ascending."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    ids = []
    for name in names:
        match = _NAME.match(name)
        if match and match["worker"] == worker:
            ids.append(int(match["id"]))
    return sorted(ids)


def prune(directory: str, worker: str, keep: int, older_only: bool = True) -> list[int]:
    """Delete `worker`'s files that a rollback can no longer need.

    `keep` is a checkpoint known to be complete. With older_only, files of ids
    below it go (newer ones may belong to a checkpoint still in progress);
    otherwise every file but `keep` goes (after a recovery to `keep`, newer
    checkpoints were abandoned and their ids are never reused). Temporary
    files an earlier incarnation left when killed mid-write go too: only the
    worker itself (never while writing) or the coordinator after every worker
    exited calls this.
    """
    _remove_temp_files(directory, worker)
    removed = []
    for cid in saved_ids(directory, worker):
        if cid < keep or (not older_only and cid != keep):
            try:
                os.unlink(path_for(directory, worker, cid))
                removed.append(cid)
            except FileNotFoundError:
                pass
    return removed


def _remove_temp_files(directory: str, worker: str) -> None:
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return
    for name in names:
        if name.startswith(f".{worker}.") and name.endswith(".tmp"):
            try:
                os.unlink(os.path.join(directory, name))
            except FileNotFoundError:
                pass

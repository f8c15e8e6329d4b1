"""Run directories: one per job under run_dir, kept tidy.

Every job writes its logs, settings, trace, Redis data and checkpoints to
`<run_dir>/<job id>/` and holds the lock file `job.lock` in it while it runs.
At the start of a job the oldest *finished* run directories beyond
`keep_runs` are deleted, and so are grading reports (`<run_dir>/grade/*`,
which keep their generated corpora) beyond the same number. A directory whose
lock is held belongs to a live job or grading run and is never touched.
`python client.py clean [--keep N]` deletes finished ones on demand.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from wordcount import locks, private
from wordcount.config import load_settings

log = logging.getLogger("client")
RUN_LOCK = "job.lock"
GRADE_DIR = "grade"  # tests/grade.py writes its reports here by default


@dataclass
class Run:
    """The directory of the running job, locked against pruning and `clean`."""

    path: str
    lock: locks.Lock

    def close(self) -> None:
        self.lock.release()


def start_run(run_dir: str, job: str, keep: int) -> Run:
    """Prune old runs, then create and lock this job's directory (with logs/)."""
    prune(run_dir, keep)
    path = private.make_run_dir(run_dir, job)  # owner-only (0700), logs/ included
    return Run(path, hold(path, f"job {job}"))


def hold(path: str, owner: str) -> locks.Lock:
    """Mark `path` (a run or grading directory) live for as long as this process runs."""
    return locks.acquire(os.path.join(path, RUN_LOCK), owner)


def is_live(path: Path) -> bool:
    return locks.is_held(str(path / RUN_LOCK))


def _is_run(path: Path) -> bool:
    """A job's directory: every job makes logs/ first; the lock marks newer ones."""
    return path.is_dir() and not path.is_symlink() and ((path / "logs").is_dir() or (path / RUN_LOCK).exists())


def _children(root: Path, want) -> list[Path]:
    """Finished directories under `root` that satisfy `want`, oldest first."""
    try:
        found = [p for p in root.iterdir() if want(p) and not is_live(p)]
    except OSError:
        return []
    return sorted(found, key=lambda p: (p.stat().st_mtime, p.name))


def finished(run_dir: str) -> list[list[Path]]:
    """The finished job directories and the finished grading reports, each oldest first."""
    root = Path(run_dir)
    grades = root / GRADE_DIR
    return [_children(root, _is_run),
            _children(grades, lambda p: p.is_dir() and not p.is_symlink()) if grades.is_dir() else []]


def beyond(run_dir: str, keep: int) -> list[Path]:
    """The finished runs (and grading reports) older than the newest `keep` of their kind."""
    return [p for group in finished(run_dir) for p in group[: max(0, len(group) - keep)]]


def prune(run_dir: str, keep: int) -> list[Path]:
    """Delete all but the newest `keep` finished runs (and grading reports); returns what went."""
    removed = beyond(run_dir, keep)
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    if removed:
        log.info("deleted %d old run directories from %s (keep_runs=%d)", len(removed), run_dir, keep)
    return removed


def _size(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def clean_main(argv: Sequence[str]) -> int:
    """`python client.py clean`: delete finished run directories."""
    parser = argparse.ArgumentParser(
        prog="client.py clean",
        description="Delete the run directories of finished jobs (logs, traces, Redis data, checkpoints) "
        "and old grading reports under run_dir. Directories of jobs still running are kept.")
    parser.add_argument("--config", metavar="FILE", help="settings file (default: ./config.json)")
    parser.add_argument("--run-dir", metavar="DIR", help="the run directory (default: the run_dir setting)")
    parser.add_argument("--keep", type=int, default=0, metavar="N",
                        help="keep the newest N finished runs (default: 0, delete all)")
    args = parser.parse_args(argv)
    if args.keep < 0:
        parser.error("--keep must be >= 0")
    run_dir = args.run_dir or load_settings(args.config).run_dir
    freed = sum(_size(p) for p in beyond(run_dir, args.keep))
    removed = prune(run_dir, args.keep)
    print(f"deleted {len(removed)} finished run directories from {run_dir} ({freed / 1e6:.1f} MB)")
    return 0

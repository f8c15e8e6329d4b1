"""Which files are the project's: what git tracks in a checkout.

The one place the handout (tests/handout.py) and the autograder zip
(kit/grading/bundle.py) ask git, so both carry the same files and never a
virtualenv, a run directory or a student's folder that happens to sit in the
instructor's tree.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

from wordcount.errors import UserError


class GitError(UserError):
    """git could not answer: it is missing, or the directory is not a git checkout."""


def run_git(root: Path, *args: str) -> str:
    """`git ARGS` in `root`, its output; a GitError (one line) if git is missing or fails."""
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitError(f"cannot run git in {root} ({exc})") from None
    if done.returncode != 0:
        why = (done.stderr.decode(errors="replace").strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise GitError(f"{root} is not a git checkout (git {args[0]}: {why})")
    return done.stdout.decode("utf-8", errors="surrogateescape")


def ls_files(root: Path, *options: str) -> list[str]:
    """`git ls-files -z OPTIONS` in `root`: paths relative to it."""
    return [p for p in run_git(root, "ls-files", "-z", *options).split("\0") if p]


def tracked_in_tree(root: Path) -> tuple[list[str], list[str]]:
    """(tracked files present in the working tree, tracked paths missing from it: deleted
    but not committed, or a submodule), both relative to `root`."""
    tracked = ls_files(root)
    present = [p for p in tracked if (root / p).is_file()]
    return present, sorted(set(tracked) - set(present))

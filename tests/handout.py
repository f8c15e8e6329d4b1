"""Build a student handout: a copy of the repository with solution regions stubbed.

    python tests/handout.py OUT_DIR [--force]

A solution region in the reference source is marked like this (Python):

        # BEGIN SOLUTION: one-line hint for the student
        ...reference code...
        # END SOLUTION

or, in Lua, with `-- BEGIN SOLUTION: hint` / `-- END SOLUTION`. In the copy the
region becomes one statement at the marker's indentation that fails loudly:
`raise NotImplementedError("<hint>")` in Python and
`return redis.error_reply("not implemented: <hint>")` in Lua. Every other line
is copied unchanged, so the handout installs and imports, and its tests fail
with "not implemented" instead of an import error.

Only the files git tracks are copied (`git ls-files`): never a virtualenv,
students' submissions, grade reports, run directories or anything else that
happens to lie in the instructor's checkout. What was left out is logged
(untracked files that are not ignored as a warning: `git add` them if the
students need them). Outside a git checkout the handout is refused, since
there would be no telling the project from the rest. A copied file that names
the instructor's checkout by its absolute path is a warning too: the
students' install would point back at the instructor's tree.
"""
from __future__ import annotations

import argparse
import logging
import re
import shutil
import sys
from collections import Counter
from pathlib import Path

from kit.gitfiles import GitError, ls_files, tracked_in_tree

log = logging.getLogger("handout")
REPO = Path(__file__).resolve().parent.parent
_BEGIN = re.compile(r"^(?P<indent>\s*)(?P<lead>#|--) BEGIN SOLUTION(?::\s*(?P<hint>.*))?$")
_END = re.compile(r"^\s*(#|--) END SOLUTION\s*$")
SHOWN = 8  # left-out entries named in a log line; the rest are counted


class HandoutError(Exception):
    """A malformed marker: the handout would not match the reference."""


def stub_line(indent: str, lead: str, hint: str) -> str:
    hint = hint.strip() or "write this part"
    if lead == "#":
        return f"{indent}raise NotImplementedError({hint!r})\n"
    return f"{indent}return redis.error_reply({('not implemented: ' + hint)!r})\n"


def strip_solutions(text: str, name: str = "<text>") -> tuple[str, int]:
    """Replace every solution region of `text`; returns (new text, regions replaced)."""
    out: list[str] = []
    inside: re.Match | None = None
    regions = 0
    for lineno, line in enumerate(text.splitlines(keepends=True), 1):
        begin = _BEGIN.match(line.rstrip("\n"))
        if begin:
            if inside:
                raise HandoutError(f"{name}:{lineno}: nested BEGIN SOLUTION")
            inside = begin
            continue
        if _END.match(line):
            if not inside:
                raise HandoutError(f"{name}:{lineno}: END SOLUTION without BEGIN")
            out.append(stub_line(inside["indent"], inside["lead"], inside["hint"] or ""))
            inside, regions = None, regions + 1
            continue
        if not inside:
            out.append(line)
    if inside:
        raise HandoutError(f"{name}: BEGIN SOLUTION never closed")
    return "".join(out), regions


def _git_paths(root: Path, *options: str) -> list[str]:
    """`git ls-files -z OPTIONS` in `root`; a HandoutError if `root` is not a git checkout or
    git is missing: then there is no telling what the project is."""
    try:
        return ls_files(root, *options)
    except GitError as exc:
        raise HandoutError(f"{exc}; the handout copies only the files git tracks") from None


def source_files(root: Path) -> list[Path]:
    """The files git tracks under `root` (as they are in the working tree), nothing else."""
    try:
        present, missing = tracked_in_tree(root)
    except GitError as exc:
        raise HandoutError(f"{exc}; the handout copies only the files git tracks") from None
    if not present:
        raise HandoutError(f"git tracks no file under {root}; commit the project before making a handout")
    for path in missing:
        log.warning("tracked but missing from the working tree, not copied: %s", path)
    return [root / p for p in present]


def _top(path: str) -> str:
    """The top-level entry of a path git printed: 'students/' for 'students/a/w.py', 'notes.txt'."""
    first, sep, _ = path.partition("/")
    return first + sep


def summarise(paths: list[str]) -> str:
    """'students/ (12 files), notes.txt': the top-level entries of `paths`, with file counts."""
    tops = Counter(_top(p) for p in paths)
    named = [f"{top} ({n} files)" if n > 1 else top for top, n in sorted(tops.items())]
    more = f" and {len(named) - SHOWN} more" if len(named) > SHOWN else ""
    return ", ".join(named[:SHOWN]) + more


def log_left_out(root: Path) -> None:
    """Say what the handout does not carry: untracked files git does not ignore (a warning:
    maybe they were meant to be committed), and the top-level entries git ignores."""
    untracked = _git_paths(root, "--others", "--exclude-standard")
    if untracked:
        log.warning("left out %d untracked file(s) that git does not ignore (git add them to hand them "
                    "out): %s", len(untracked), summarise(untracked))
    ignored = _git_paths(root, "--others", "--ignored", "--exclude-standard", "--directory")
    top = [p for p in ignored if "/" not in p.rstrip("/")]
    if top:
        nested = len(ignored) - len(top)
        log.info("left out what git ignores: %s%s", summarise(top),
                 f" (and {nested} ignored entries inside tracked directories, such as caches)" if nested else "")


def points_back(out_dir: Path, root: Path) -> list[str]:
    """Files of the handout that name the instructor's checkout by its absolute path (a config
    path, an install record): the students' copy would read or import from the instructor's tree."""
    needles = {str(root).encode(), str(root.resolve()).encode()}
    return sorted(str(f.relative_to(out_dir)) for f in out_dir.rglob("*")
                  if f.is_file() and any(n in f.read_bytes() for n in needles))


def build(out_dir: Path, root: Path = REPO) -> dict[str, int]:
    """Write the handout; returns {relative path: regions stubbed} for changed files."""
    changed: dict[str, int] = {}
    files = source_files(root)
    log_left_out(root)
    for src in files:
        rel = src.relative_to(root)
        dst = out_dir / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.suffix in (".py", ".lua") and rel.parts[0] != "tests":
            text, regions = strip_solutions(src.read_text(encoding="utf-8"), str(rel))
            if regions:
                dst.write_text(text, encoding="utf-8")
                changed[str(rel)] = regions
                continue
        shutil.copy2(src, dst)
    for rel in points_back(out_dir, root):
        log.warning("%s names the instructor's checkout %s: the students' copy would point back at it", rel, root)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path, help="where to write the student copy (must not exist)")
    parser.add_argument("--force", action="store_true", help="replace OUT_DIR if it exists")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="handout: %(levelname)s: %(message)s")
    out = args.out_dir.resolve()
    if out == REPO or REPO in out.parents or out in REPO.parents:  # checked before --force deletes anything
        print(f"error: {out} is, holds or is inside the repository; write the handout elsewhere", file=sys.stderr)
        return 2
    if out.exists():
        if not args.force:
            print(f"error: {out} exists; pick a new directory or pass --force", file=sys.stderr)
            return 2
        shutil.rmtree(out)
    try:
        changed = build(out)
    except HandoutError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for rel, n in sorted(changed.items()):
        print(f"stubbed {n} region(s) in {rel}")
    print(f"handout written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

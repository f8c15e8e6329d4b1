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
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_BEGIN = re.compile(r"^(?P<indent>\s*)(?P<lead>#|--) BEGIN SOLUTION(?::\s*(?P<hint>.*))?$")
_END = re.compile(r"^\s*(#|--) END SOLUTION\s*$")
SKIP_DIRS = {".git", ".wc-run", "__pycache__", ".pytest_cache", "build", "generated"}


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


def source_files(root: Path) -> list[Path]:
    """Files git tracks (plus untracked, not ignored); a plain walk outside git."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
            cwd=root, capture_output=True, text=True, check=True,
        ).stdout.splitlines()
        return [root / p for p in listed if (root / p).is_file()]
    except (OSError, subprocess.CalledProcessError):
        return [Path(d) / f for d, dirs, files in os.walk(root)
                for f in files if not (set(Path(d).relative_to(root).parts) & SKIP_DIRS)]


def build(out_dir: Path, root: Path = REPO) -> dict[str, int]:
    """Write the handout; returns {relative path: regions stubbed} for changed files."""
    changed: dict[str, int] = {}
    for src in source_files(root):
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
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path, help="where to write the student copy (must not exist)")
    parser.add_argument("--force", action="store_true", help="replace OUT_DIR if it exists")
    args = parser.parse_args(argv)
    out = args.out_dir.resolve()
    if out.exists():
        if not args.force:
            print(f"error: {out} exists; pick a new directory or pass --force", file=sys.stderr)
            return 2
        shutil.rmtree(out)
    if out == REPO or REPO in out.parents:
        print(f"error: {out} is inside the repository; write the handout elsewhere", file=sys.stderr)
        return 2
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

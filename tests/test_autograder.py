"""The Gradescope autograder (tests/autograder.py, run_autograder, tests/gradescope_run.py) and
`tests/grade.py --format gradescope`. Properties:

* the zip holds setup.sh and run_autograder at its root (executable, `bash -n` clean), the rubric,
  and exactly the repository's git-tracked files under repo/;
* unpacked into a temporary autograder root (WC_AUTOGRADER_ROOT), the real run_autograder grades
  the reference part to full marks and a broken part to less, into a results.json that follows
  Gradescope's schema, one test per rubric item with the failure's reasons, diff and replay command;
* a submission that cannot be graded (no part, a file that is empty or not Python) gets score 0
  and one clear message, without running anything; an item that hangs is stopped at its timeout;
* submission files map to parts by name (wrapped in a folder, Lab 2 modules laid over the
  reference package);
* grade.py --format gradescope writes the same schema for any run, and for a run that cannot start.

To stay quick, the graded runs use a couple of Lab 1 items (WC_AUTOGRADER_ONLY / --only).
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest
from kit.grading import gradescope
from kit.grading.rubric import load_rubric
from kit.grading.submission import BadSubmission, find_parts
from support import REPO, run_command

BUILDER = REPO / "tests" / "autograder.py"
GRADER = REPO / "tests" / "grade.py"
RUBRIC = REPO / "tests" / "rubric.json"
BROKEN_LUA = REPO / "tests" / "broken" / "lua_ignores_xack.lua"
# The reference passes both; lua_ignores_xack.lua fails the second (a stolen entry committed twice).
QUICK_ITEMS = ("one_worker", "slow_worker_stolen")
THIS_CHECKOUT = {"PYTHONPATH": os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH"))))}

VISIBILITY = {"enum": ["hidden", "after_due_date", "after_published", "visible"]}
FORMAT = {"enum": ["text", "simple_format", "html", "md", "ansi"]}
# Gradescope's results.json ("Autograder Specifications"), restricted to the keys it documents, with
# what this autograder always writes required: a typo in a key or a wrong type fails here.
RESULTS_SCHEMA = {
    "type": "object",
    "required": ["score", "execution_time", "output", "visibility", "stdout_visibility", "tests"],
    "additionalProperties": False,
    "properties": {
        "score": {"type": "number", "minimum": 0},
        "execution_time": {"type": "integer", "minimum": 0},
        "output": {"type": "string", "minLength": 1},
        "output_format": FORMAT, "test_output_format": FORMAT, "test_name_format": FORMAT,
        "visibility": VISIBILITY, "stdout_visibility": VISIBILITY,
        "extra_data": {"type": "object"},
        "leaderboard": {"type": "array"},
        "tests": {"type": "array", "items": {
            "type": "object",
            "required": ["name", "score", "max_score", "status", "output"],
            "additionalProperties": False,
            "properties": {
                "score": {"type": "number", "minimum": 0}, "max_score": {"type": "number", "minimum": 0},
                "status": {"enum": ["passed", "failed"]},
                "name": {"type": "string", "minLength": 1}, "name_format": FORMAT,
                "number": {"type": "string"}, "output": {"type": "string", "minLength": 1},
                "output_format": FORMAT, "tags": {"type": "array", "items": {"type": "string"}},
                "visibility": VISIBILITY, "extra_data": {"type": "object"},
            },
        }},
    },
}


def valid_results(path: Path) -> dict:
    """results.json, checked against the schema and for consistent points."""
    results = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.validate(results, RESULTS_SCHEMA)
    assert results["score"] == sum(t["score"] for t in results["tests"])
    for test in results["tests"]:
        assert test["score"] <= test["max_score"]
        assert (test["status"] == "passed") == (test["score"] == test["max_score"]), test
    return results


def build_zip(tmp_path: Path, *args: str) -> Path:
    out = tmp_path / "autograder.zip"
    done = run_command([sys.executable, BUILDER, "--lab", "1", str(out), *args], cwd=REPO, env=THIS_CHECKOUT,
                       timeout=60)
    assert done.returncode == 0 and out.is_file(), done
    return out


def unpack(zip_path: Path, root: Path) -> Path:
    """An autograder tree as Gradescope lays it out: the zip in source/, an empty submission/."""
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(root / "source")
        for info in zf.infolist():  # extractall drops the permission bits
            os.chmod(root / "source" / info.filename, (info.external_attr >> 16) & 0o777)
    (root / "submission").mkdir()
    return root


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory) -> Path:
    return build_zip(tmp_path_factory.mktemp("zip"))


def autograder_root(zip_path: Path, tmp_path: Path, files: dict[str, Path | bytes]) -> Path:
    root = unpack(zip_path, tmp_path / "autograder")
    for name, content in files.items():
        target = root / "submission" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copy(content, target)
        else:
            target.write_bytes(content)
    return root


def run_autograder(root: Path, only: tuple[str, ...] = QUICK_ITEMS, timeout: float = 150):
    """The real script, as Gradescope runs it (cwd = root), with the root moved by the env var."""
    env = {"WC_AUTOGRADER_ROOT": str(root), "WC_AUTOGRADER_PYTHON": sys.executable,
           "WC_AUTOGRADER_ONLY": ",".join(only)}
    done = run_command([root / "source" / "run_autograder"], cwd=root, env=env, timeout=timeout)
    assert done.returncode == 0, done
    return done, valid_results(root / "results" / "results.json")


@pytest.mark.timeout(60)
def test_zip_holds_the_scripts_and_only_tracked_files(autograder_zip, tmp_path):
    tracked = subprocess.run(["git", "-C", str(REPO), "ls-files"], capture_output=True, text=True,
                             check=True).stdout.split()
    with zipfile.ZipFile(autograder_zip) as zf:
        infos = {i.filename: i for i in zf.infolist()}
    assert {"setup.sh", "run_autograder", "rubric.json"} <= set(infos)
    repo_files = {n.removeprefix("repo/") for n in infos if n.startswith("repo/")}
    assert repo_files == {n for n in tracked if (REPO / n).is_file()}
    assert not any(part in {".venv", ".wc-run", ".git", "__pycache__"} for n in repo_files for part in n.split("/"))
    assert set(infos) - {f"repo/{n}" for n in repo_files} == {"setup.sh", "run_autograder", "rubric.json"}
    root = unpack(autograder_zip, tmp_path)
    for script in ("setup.sh", "run_autograder"):
        path = root / "source" / script
        assert stat.S_IMODE((infos[script].external_attr >> 16)) & 0o111 and os.access(path, os.X_OK)
        assert path.read_text().startswith("#!/usr/bin/env bash\n")
        check = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
    setup = (root / "source" / "setup.sh").read_text()
    assert "apt-get install" in setup and "redis-server" in setup and "pip install" in setup
    assert "--lab 1" in (root / "source" / "run_autograder").read_text()


@pytest.mark.timeout(120)
def test_reference_part_gets_full_marks(autograder_zip, tmp_path):
    root = autograder_root(autograder_zip, tmp_path, {"wordcount.lua": REPO / "lua" / "wordcount.lua"})
    done, results = run_autograder(root)
    assert [t["name"].split(":")[0] for t in results["tests"]] == list(QUICK_ITEMS)
    assert results["score"] == sum(t["max_score"] for t in results["tests"]) == 25, results
    assert {t["status"] for t in results["tests"]} == {"passed"}
    assert "wordcount.lua graded as part lua" in results["output"]
    assert results["visibility"] == "visible" and results["stdout_visibility"] == "hidden"
    report = json.loads((root / "work" / "grade" / "report.json").read_text())
    assert report["repo"] == str(root / "source" / "repo")  # graded with the zip's copy, not this checkout
    assert report["parts"] == {"lua": str(root / "submission" / "wordcount.lua")}
    assert "score 25" in done.stdout


@pytest.mark.timeout(120)
def test_broken_part_gets_less_with_the_reasons(autograder_zip, tmp_path):
    root = autograder_root(autograder_zip, tmp_path, {"wordcount.lua": BROKEN_LUA})
    _, results = run_autograder(root)
    tests = {t["name"].split(":")[0]: t for t in results["tests"]}
    assert results["score"] == tests["one_worker"]["score"] == 10, results
    caught = tests["slow_worker_stolen"]
    assert caught["status"] == "failed" and caught["score"] == 0
    for expected in ("FAIL", "the word table differs", "First differing words", "expected", "Replay",
                     "python client.py", "--part lua=", "python tests/grade.py --lab 1 --only slow_worker_stolen",
                     "log: client"):
        assert expected in caught["output"], (expected, caught["output"])
    assert "10/25 points" in results["output"]


def _garbage() -> bytes:
    return bytes(range(256)) * 4


@pytest.mark.parametrize("files, message", [
    ({}, "none of its files is a Lab 1 part"),
    ({"README.md": b"hello\n", "mapper.py": b"x = 1\n"}, "The submission holds: README.md, mapper.py"),
    ({"worker.py": b"def broken(:\n"}, "worker.py does not compile: line 1"),
    ({"worker.py": b"\n\n"}, "worker.py is empty"),
    ({"worker.py": _garbage()}, "worker.py"),
    ({"wordcount.lua": b""}, "wordcount.lua is empty"),
], ids=["empty", "unrelated-files", "syntax-error", "empty-file", "binary", "empty-lua"])
@pytest.mark.timeout(60)
def test_bad_submission_scores_zero_with_a_message(autograder_zip, tmp_path, files, message):
    root = autograder_root(autograder_zip, tmp_path, files)
    done, results = run_autograder(root, only=())
    assert results["score"] == 0
    assert results["output"].startswith("Your submission was not graded: ") and message in results["output"], results
    assert len(results["tests"]) == len(load_rubric(RUBRIC).lab(1).items)  # every item, at 0 points
    assert all(t["score"] == 0 and message in t["output"] for t in results["tests"])
    assert "Traceback" not in done.stdout + done.stderr
    assert not (root / "work" / "grade").exists()  # nothing was run


@pytest.mark.timeout(90)
def test_hung_item_is_stopped_at_its_rubric_timeout(tmp_path):
    rubric = json.loads(RUBRIC.read_text(encoding="utf-8"))
    rubric["labs"]["1"]["items"] = [
        {"id": "hangs", "title": "a worker stalls far past the timeout", "points": 5, "timeout_s": 3,
         "args": ["--workers", "1", "--crash", "w0:slow=120"]},
    ]
    custom = tmp_path / "rubric.json"
    custom.write_text(json.dumps(rubric), encoding="utf-8")
    root = autograder_root(build_zip(tmp_path, "--rubric", str(custom)), tmp_path,
                           {"worker.py": REPO / "worker.py"})
    _, results = run_autograder(root, only=(), timeout=80)
    [test] = results["tests"]
    assert test["score"] == 0 and "did not finish within 3s" in test["output"], test


def test_submission_files_map_to_parts_by_name(tmp_path):
    """A folder around the files is looked into; a Lab 2 module is laid over the reference package."""
    sub = tmp_path / "submission"
    (sub / "handout" / "lua").mkdir(parents=True)
    shutil.copy(REPO / "lua" / "wordcount.lua", sub / "handout" / "lua" / "wordcount.lua")
    (sub / "handout" / "notes.txt").write_text("mine\n")
    found = find_parts(sub, 1, tmp_path / "staging")
    assert found.parts == {"lua": sub / "handout" / "lua" / "wordcount.lua"}
    assert any("handout/" in n for n in found.notes) and any("notes.txt" in n for n in found.notes)

    lab2 = tmp_path / "lab2"
    lab2.mkdir()
    (lab2 / "mapper.py").write_text("# the student's mapper\n" + (REPO / "mapper" / "mapper.py").read_text())
    (lab2 / "phases.py").write_text((REPO / "coordinator" / "phases.py").read_text())
    found = find_parts(lab2, 2, tmp_path / "staging2")
    assert set(found.parts) == {"mapper", "coordinator"}
    mapper = found.parts["mapper"]
    assert mapper.name == "mapper" and (mapper / "__main__.py").is_file()  # runs as python -m mapper
    assert (mapper / "mapper.py").read_text().startswith("# the student's mapper")
    assert (found.parts["coordinator"] / "coordinator.py").is_file()
    with pytest.raises(BadSubmission, match="Lab 2 part"):
        find_parts(sub, 2, tmp_path / "staging3")  # a Lab 1 submission to the Lab 2 autograder


def test_partial_report_lists_every_planned_item():
    """Items a stopped run never reached still get a test, at 0 points, with the reason."""
    items = load_rubric(RUBRIC).lab(1).items[:2]
    done = {"id": items[0].id, "title": items[0].title, "max_points": items[0].points, "points": items[0].points,
            "status": "pass", "duration_s": 1.0, "seed": 1, "command": "python client.py", "reasons": [],
            "notes": [], "diff": "", "details": {}, "logs": {}}
    report = {"lab": 1, "title": "Lab 1", "seed": 1, "parts": {}, "redis": "7", "python": "3", "duration_s": 2.0,
              "points": items[0].points, "max_points": items[0].points, "passed": 1, "failed": 0, "skipped": 0,
              "items": [done]}
    results = gradescope.results(report, items, missing="not graded: out of time")
    jsonschema.validate(results, RESULTS_SCHEMA)
    assert [t["score"] for t in results["tests"]] == [items[0].points, 0]
    assert "out of time" in results["tests"][1]["output"] and "not graded" in results["output"]


@pytest.mark.timeout(90)
def test_grade_py_writes_gradescope_results(tmp_path):
    out = tmp_path / "grade"
    done = run_command([sys.executable, GRADER, "--lab", "1", "--only", "one_worker", "--out", str(out),
                        "--format", "gradescope"], cwd=REPO, env=THIS_CHECKOUT, timeout=80)
    assert done.returncode == 0, done
    results = valid_results(out / "results.json")
    assert [t["name"] for t in results["tests"]] == ["one_worker: one worker: exact table"]
    assert results["score"] == 10 and (out / "report.md").is_file()
    # A run that cannot start still leaves a results.json, with the one-line error, and exits 2.
    target = tmp_path / "elsewhere" / "results.json"
    done = run_command([sys.executable, GRADER, "--lab", "1", "--only", "no_such_item", "--results-json", str(target)],
                       cwd=REPO, env=THIS_CHECKOUT, timeout=60)
    assert done.returncode == 2 and done.stderr.strip().startswith("error: "), done
    results = valid_results(target)
    assert results["score"] == 0 and "unknown item(s) no_such_item" in results["output"]

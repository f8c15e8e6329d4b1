"""The grader (tests/grade.py) is itself graded. Properties:

* the reference gets full marks on Lab 1 (every item passes, its replay
  command reproduces the run) and on Lab 2;
* each deliberately broken part in tests/broken/ fails the item meant to
  catch it, with reasons, the client's log and the replay command;
* the report names each part the lab ran (reference or swapped) with its
  path and sha256;
* an item that hangs is killed after its timeout (with everything it started)
  and the later items are skipped;
* the stale-completion trace check counts acks by recovery id;
* every mistake in the grader's input (rubric, --only, --part, --data) is one
  line, exit 2, not a traceback.

Everything runs `python tests/grade.py` as a real process against real Redis
servers; the autouse fixture in conftest.py checks nothing it started survives.
"""
from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Callable

import pytest
from kit.grading.checks import repeated_work, stale_completions, unexplained_exits
from kit.grading.report import parts_used
from kit.run import Finished
from support import REPO, run_command

GRADER = REPO / "tests" / "grade.py"
# The grader imports the project from the installed package; put this checkout first, as pytest's
# `pythonpath` does for the suite, so the grader under test is this one even when another checkout
# (another git worktree) is the installed one.
THIS_CHECKOUT = {"PYTHONPATH": os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH"))))}
BROKEN_DIR = REPO / "tests" / "broken"
RUBRIC = REPO / "tests" / "rubric.json"

# Deliberately broken parts: (lab, part, file or package under tests/broken/, the item that must fail).
# Adding a variant is one line here (Lab 2 lines are skipped while the streaming job is missing).
# Each fails its item every time (checked with --seed 1, 2, 3): the Lab 2 items kill at logical points
# where the bug matters (--kill-at, e.g. right after checkpoint 2 completes), not at clock times.
BROKEN = [
    (1, "lua", "lua_ignores_xack.lua", "slow_worker_stolen"),
    (1, "worker", "worker_exits_early.py", "crash_after_read"),
    (1, "worker", "worker_busy_polls.py", "crash_after_read"),  # exact, but spins: over the CPU budget
    (1, "worker", "worker_gives_up_on_redis_error.py", "redis_restart"),  # replacements hide it; exit statuses do not
    (2, "mapper", "mapper_forgets_cursor", "mapper_killed_once"),  # recovery re-sends counted files
    (2, "reducer", "reducer_snapshots_unaligned", "idle_mapper_alignment"),  # recovery loses in-flight counts
    (2, "coordinator", "coordinator_accepts_stale_acks", "stale_acks_ignored"),  # completes a checkpoint early
    (2, "coordinator", "coordinator_never_resends", "udp_loss"),  # a lost request is never repeated: hangs
    (2, "reducer", "reducer_accepts_zombie_counts", "partition_zombie"),  # a healed zombie's counts are added
]


def run_grader(*args: str, timeout: float) -> Finished:
    """Run the grader to completion (kit.run: its own session); on timeout SIGTERM its group (the grader
    then stops the running item), SIGKILL what is left after 15 s, and fail."""
    return run_command([sys.executable, GRADER, *args], cwd=REPO, env=THIS_CHECKOUT, timeout=timeout,
                       term_grace_s=15)


def load_report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text(encoding="utf-8"))


def items_by_id(report: dict) -> dict[str, dict]:
    return {item["id"]: item for item in report["items"]}


def describe(result: Finished, out: Path) -> str:
    md = out / "report.md"
    return (f"exit {result.returncode}\n--- stdout ---\n{result.stdout[-3000:]}\n--- stderr ---\n"
            f"{result.stderr[-3000:]}\n--- report.md ---\n"
            f"{md.read_text(encoding='utf-8')[-6000:] if md.exists() else '(none)'}")


def stream_unavailable() -> str | None:
    """Why Lab 2 cannot be graded here, or None."""
    done = run_command([sys.executable, "client.py", "stream", "--help"], cwd=REPO, timeout=60)
    if done.exit_code == 0:
        return None
    return f"Lab 2 not available: 'python client.py stream --help' failed ({done.last_error})"


def require_lab(lab: int) -> None:
    if lab == 2 and (why := stream_unavailable()):
        pytest.skip(why)


def assert_replayable(item: dict) -> None:
    """The report's command is what the grader ran: `python client.py ...` with every input named."""
    argv = shlex.split(item["command"])
    assert argv[:2] == ["python", "client.py"], item["command"]
    for flag in ("--config", "--data", "--record", "--verify"):
        assert flag in argv, f"{flag} missing from {item['command']}"
    assert Path(argv[argv.index("--data") + 1]).is_dir(), item["command"]


@pytest.mark.timeout(420)
def test_reference_gets_full_marks_on_lab1(tmp_path):
    out = tmp_path / "grade"
    result = run_grader("--lab", "1", "--out", str(out), "--jobs-timeout-scale", "3", timeout=400)
    assert result.returncode == 0, describe(result, out)
    report = load_report(out)
    assert report["points"] == report["max_points"] > 0, describe(result, out)
    assert {i["status"] for i in report["items"]} == {"pass"}, describe(result, out)
    assert len(report["items"]) == len(json.loads(RUBRIC.read_text())["labs"]["1"]["items"])
    for item in report["items"]:
        assert_replayable(item)
    assert items_by_id(report)["redis_restart"]["details"]["redis_restarts"] >= 1
    assert items_by_id(report)["speed"]["details"]["ratio"] > 0
    assert "[one_worker](#one_worker)" in (out / "report.md").read_text(encoding="utf-8")
    assert report["title"] in result.stdout
    # Copy-paste replay: the report's command, run from the repository root, reproduces the item.
    argv = shlex.split(items_by_id(report)["one_worker"]["command"])
    replay = run_command([sys.executable, *argv[1:]], cwd=REPO, timeout=120)
    assert replay.returncode == 0 and "verify: OK" in replay.stdout, replay


@pytest.mark.stream
@pytest.mark.timeout(900)
def test_reference_gets_full_marks_on_lab2(tmp_path):
    require_lab(2)
    out = tmp_path / "grade"
    result = run_grader("--lab", "2", "--out", str(out), "--jobs-timeout-scale", "2", timeout=850)
    assert result.returncode == 0, describe(result, out)
    report = load_report(out)
    assert report["points"] == report["max_points"] > 0, describe(result, out)
    for item in report["items"]:
        assert_replayable(item)


@pytest.mark.parametrize(
    "lab, part, variant, item",
    [pytest.param(*b, marks=[pytest.mark.stream] if b[0] == 2 else [], id=b[2]) for b in BROKEN],
)
@pytest.mark.timeout(300)
def test_broken_variant_fails_its_item(tmp_path, lab, part, variant, item):
    require_lab(lab)
    out = tmp_path / "grade"
    path = BROKEN_DIR / variant
    result = run_grader("--lab", str(lab), "--only", item, "--part", f"{part}={path}", "--out", str(out),
                        "--jobs-timeout-scale", "3", timeout=280)
    assert result.returncode == 0, describe(result, out)
    graded = items_by_id(load_report(out))
    assert list(graded) == [item]
    verdict = graded[item]
    assert verdict["status"] == "fail" and verdict["points"] == 0, describe(result, out)
    assert verdict["reasons"] and verdict["logs"]["client"], verdict
    assert f"--part {part}={path}" in verdict["command"]
    md = (out / "report.md").read_text(encoding="utf-8")
    assert verdict["reasons"][0].split(":")[0] in md
    if part == "lua":  # double counting: the report names the first differing words
        assert "words differ" in verdict["diff"] and "expected" in verdict["diff"], verdict


@pytest.mark.timeout(120)
def test_report_names_the_parts_used_with_their_hashes(tmp_path):
    """report.json and report.md give each part of the lab its path and sha256: the swapped worker's
    (a copy of ours with one comment added, so it differs), and the reference Lua and tokenizer."""
    student = tmp_path / "alice" / "worker.py"
    student.parent.mkdir()
    student.write_text((REPO / "worker.py").read_text(encoding="utf-8") + "\n# alice\n", encoding="utf-8")
    out = tmp_path / "grade"
    result = run_grader("--lab", "1", "--only", "one_worker", "--part", f"worker={student}", "--out", str(out),
                        "--jobs-timeout-scale", "3", timeout=100)
    assert result.returncode == 0, describe(result, out)
    report = load_report(out)
    assert items_by_id(report)["one_worker"]["status"] == "pass", describe(result, out)
    used = report["parts_used"]
    assert sorted(used) == ["lua", "tokenizer", "worker"]
    expected = {"worker": (student, True), "lua": (REPO / "lua" / "wordcount.lua", False),
                "tokenizer": (REPO / "wordcount" / "tokenize.py", False)}
    md = (out / "report.md").read_text(encoding="utf-8")
    for name, (path, swapped) in expected.items():
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert used[name] == {"path": str(path.resolve()), "sha256": digest, "swapped": swapped}, used
        assert f"| {name} | {'swapped' if swapped else 'reference'} | `{path.resolve()}` | `{digest}` |" in md, md


def test_package_parts_are_hashed_over_their_files(tmp_path):
    """Lab 2's parts are package directories: the hash is the documented one (a line per file,
    `<relative path>\\0<sha256>\\n`, sorted, __pycache__ left out), recomputed here by hand."""
    student = tmp_path / "bob" / "mapper"
    shutil.copytree(REPO / "mapper", student, ignore=shutil.ignore_patterns("__pycache__"))
    (student / "__pycache__").mkdir()
    (student / "__pycache__" / "mapper.cpython-311.pyc").write_bytes(b"not part of the code")
    used = parts_used(2, {"mapper": str(student)}, REPO)
    assert sorted(used) == ["coordinator", "mapper", "reducer", "tokenizer"]
    lines = "".join(f"{f.relative_to(student).as_posix()}\0{hashlib.sha256(f.read_bytes()).hexdigest()}\n"
                    for f in sorted(student.glob("*.py")))
    assert used["mapper"] == {"path": str(student), "sha256": hashlib.sha256(lines.encode()).hexdigest(),
                              "swapped": True}
    assert used["reducer"]["path"] == str(REPO / "reducer") and not used["reducer"]["swapped"]


@pytest.mark.timeout(120)
def test_hung_item_is_killed_and_later_items_skipped(tmp_path):
    rubric = json.loads(RUBRIC.read_text(encoding="utf-8"))
    lab = rubric["labs"]["1"]
    lab["skip_after_failure"] = True
    lab["items"] = [
        {"id": "hangs", "title": "a worker stalls far past the timeout", "points": 5, "timeout_s": 3,
         "args": ["--workers", "1", "--crash", "w0:slow=120"]},
        {"id": "later", "title": "never runs", "points": 7, "timeout_s": 60, "args": ["--workers", "1"]},
    ]
    custom = tmp_path / "rubric.json"
    custom.write_text(json.dumps(rubric), encoding="utf-8")
    out = tmp_path / "grade"
    result = run_grader("--lab", "1", "--rubric", str(custom), "--out", str(out), "--fail-under", "1",
                        timeout=100)
    assert result.returncode == 1, describe(result, out)  # 0 points < --fail-under 1
    graded = items_by_id(load_report(out))
    assert graded["hangs"]["status"] == "fail" and "did not finish within 3s" in graded["hangs"]["reasons"][0]
    assert graded["later"]["status"] == "skipped" and graded["later"]["points"] == 0
    assert "hangs" in graded["later"]["reasons"][0]


def test_stale_completion_check_reads_acks_by_recovery_id():
    """check.stale_completions: a checkpoint completed with an ack from before the last recovery is one
    violation; acks under the current recovery id from every worker are none (whatever came before)."""
    def ack(cp: int, src: str, rid: int) -> dict:
        return {"proc": "coordinator", "ev": "ack", "cp": cp, "kind": "checkpoint_ack", "src": src, "rid": rid}

    workers = ["mapper-0", "reducer-0"]
    events = [{"proc": "client", "ev": "run_start", "mappers": 1, "reducers": 1},
              ack(1, "reducer-0", 0),  # checkpoint 1 under recovery 0: mapper-0 dies before acking
              {"proc": "coordinator", "ev": "recovery_started", "rid": 1, "cp": 0},
              ack(1, "mapper-0", 1),  # the id is used again; reducer-0 has not acked it under recovery 1
              {"proc": "coordinator", "ev": "checkpoint_complete", "cp": 1}]
    assert stale_completions(events) == 1
    events[-1:-1] = [ack(1, "reducer-0", 1)]
    assert stale_completions(events) == 0
    events += [*(ack(2, w, 1) for w in workers), {"proc": "coordinator", "ev": "checkpoint_complete", "cp": 2}]
    assert stale_completions(events) == 0
    assert stale_completions([{k: v for k, v in e.items() if k != "rid"} for e in events]) is None  # not checkable


def _bad_rubric(tmp_path: Path) -> list[str]:
    path = tmp_path / "bad.json"
    path.write_text('{"labs": {"1": {"items": [}}}', encoding="utf-8")
    return ["--rubric", str(path)]


def _edited_rubric(tmp_path: Path, edit_first_item: Callable[[dict], object]) -> list[str]:
    """--rubric for a copy of the rubric whose first Lab 1 item was changed by `edit_first_item`."""
    rubric = json.loads(RUBRIC.read_text(encoding="utf-8"))
    edit_first_item(rubric["labs"]["1"]["items"][0])
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(rubric), encoding="utf-8")
    return ["--rubric", str(path)]


def _typo_rubric(tmp_path: Path) -> list[str]:
    return _edited_rubric(tmp_path, lambda item: item.update(pionts=3))


def _unknown_check_rubric(tmp_path: Path) -> list[str]:
    return _edited_rubric(tmp_path, lambda item: item.update(expect={"check.no_such_thing": "== 0"}))


def _bad_budget_rubric(tmp_path: Path) -> list[str]:
    return _edited_rubric(tmp_path, lambda item: item.update(budgets={"cpu_s": {"bsae": 1}}))


def _unknown_field_rubric(tmp_path: Path) -> list[str]:
    return _edited_rubric(tmp_path, lambda item: item.update(expect={"stolne": ">= 1"}))


@pytest.mark.parametrize("make_args, message", [
    (_bad_rubric, "not valid JSON"),
    (_unknown_field_rubric, "'stolne': not a number of the run record"),
    (_typo_rubric, "unknown key(s) pionts"),
    (_unknown_check_rubric, "'check.no_such_thing': no such check"),
    (_bad_budget_rubric, "budget 'cpu_s': unknown term 'bsae'"),
    (lambda tmp: ["--only", "no_such_item"], "unknown item(s) no_such_item"),
    (lambda tmp: ["--part", f"worker={tmp}/missing.py"], "does not exist"),
    (lambda tmp: ["--part", "gizmo=worker.py"], "unknown part 'gizmo'"),
    (lambda tmp: ["--data", f"{tmp}/nowhere"], "does not exist"),
], ids=["bad-json", "unknown-record-field", "typo-key", "unknown-check", "bad-budget", "unknown-item", "missing-part", "unknown-part", "missing-data"])
@pytest.mark.timeout(60)
def test_user_mistakes_are_one_line(tmp_path, make_args, message):
    result = run_grader("--lab", "1", "--out", str(tmp_path / "grade"), *make_args(tmp_path), timeout=50)
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr


def _exit(target: str, pid: int, status: int, t: float) -> dict:
    return {"t": t, "proc": "client", "ev": "exit", "target": target, "target_pid": pid, "status": status}


def test_unexplained_exit_check_excuses_only_injected_faults():
    """check.unexplained_exits: a non-zero exit is excused by a kill of that pid, a crash event from it, or
    its replacement while it still ran (a superseded zombie); a worker that gave up on its own is counted."""
    events = [{"t": 0.0, "proc": "client", "ev": "spawn", "target": "w0", "target_pid": 10},
              {"t": 0.0, "proc": "client", "ev": "spawn", "target": "w1", "target_pid": 11},
              {"t": 0.0, "proc": "client", "ev": "spawn", "target": "w2", "target_pid": 12},
              {"t": 1.0, "pid": 10, "proc": "w0", "ev": "crash", "point": "after_read"},
              {"t": 1.5, "proc": "client", "ev": "kill", "target": "w1", "target_pid": 11},
              _exit("w0", 10, 3, 1.1), _exit("w1", 11, -9, 1.6), _exit("w2", 12, 0, 2.0)]
    assert unexplained_exits(events) == 0
    gave_up = [*events, {"t": 2.1, "proc": "client", "ev": "spawn", "target": "w3", "target_pid": 13},
               _exit("w3", 13, 1, 2.5)]
    assert unexplained_exits(gave_up) == 1
    # Replaced while still running (its own exit event comes after the replacement's spawn): excused.
    zombie = [{"t": 0.0, "proc": "coordinator", "ev": "spawn", "target": "mapper-0", "target_pid": 20},
              {"t": 1.0, "proc": "coordinator", "ev": "spawn", "target": "mapper-0", "target_pid": 21},
              {"t": 2.0, "pid": 20, "proc": "mapper-0", "ev": "exit", "code": 76},
              _exit("mapper-0", 20, 76, 3.0), _exit("mapper-0", 21, 0, 3.0)]
    assert unexplained_exits(zombie) == 0
    died_first = [zombie[0], _exit("mapper-0", 20, 1, 0.5), zombie[1], zombie[4]]
    assert unexplained_exits(died_first) == 1
    assert unexplained_exits([{"t": 0.0, "proc": "client", "ev": "run_start"}]) is None  # nothing to check


def test_repeated_work_check_excuses_steals_and_rollbacks():
    """check.repeated_work: an entry read or committed twice counts, unless a steal took it or a Redis
    kill/restart (a rollback) came between."""
    def ev(t: float, name: str, *ids: str, **extra: object) -> dict:
        return {"t": t, "proc": "w0", "ev": name, "ids": list(ids), **extra}

    fine = [ev(1, "read", "a"), ev(2, "commit", "a"), ev(3, "steal", "a"),
            ev(4, "kill", target="redis"), ev(5, "redis_restart", target="redis"),
            ev(6, "read", "a"), ev(7, "commit", "a")]
    assert repeated_work(fine) == 0
    assert repeated_work([ev(1, "read", "a", "b"), ev(2, "read", "b"), ev(3, "commit", "a"),
                          ev(4, "commit", "a")]) == 2
    assert repeated_work([ev(1, "steal", "a")]) is None  # no reads or commits traced: not checkable

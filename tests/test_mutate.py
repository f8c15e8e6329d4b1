"""Mutation analysis (tests/mutate.py, kit/mutation/): the operators, and one small real run.

The operator tests need no Redis and take well under a second. The real run
grades a seeded sample of two Lua mutants plus one known-bad one (the XACK of
the commit dropped: every entry stays pending, so the job can never finish)
with the grader cut down to two items and short timeouts.
"""
from __future__ import annotations

import ast
import json
import os
import sys

import pytest
from kit.mutation import lua_ops, python_ops
from kit.mutation.regions import RegionError, find_regions
from kit.mutation.run import LAB_PARTS, materialise, part_mutants
from support import REPO, describe, run_command

from wordcount.errors import UserError

MUTATE = REPO / "tests" / "mutate.py"
THIS_CHECKOUT = {"PYTHONPATH": os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH"))))}
ALL_PARTS = [p for lab in LAB_PARTS.values() for p in lab if p != "tokenizer"]

PY = '''\
def f(xs, limit):
    total = 0
    # BEGIN SOLUTION: sum the small ones
    for x in xs:
        if x < limit:
            total += 1
    send(total)
    log(total)
    # END SOLUTION
    if total == 3:
        return 7
    return total
'''

LUA = """\
local function f(args)
  -- BEGIN SOLUTION: hint
  local n = tonumber(args[2])
  if n == 0 then
    return 'a == 1'
  end
  redis.call('XACK', 's', 'g', args[3 + n])
  redis.call('HINCRBY', 'c', 'x', n) -- comment < 5
  return {}
  -- END SOLUTION
end
if x == 2 then return 3 end
"""


def python_mutants() -> list:
    return python_ops.mutants("p", "p.py", PY, "p")


def test_regions_are_the_lines_between_the_markers():
    assert [(r.first, r.last) for r in find_regions(PY)] == [(4, 8)]
    with pytest.raises(RegionError, match="never closed"):
        find_regions("# BEGIN SOLUTION: x\npass\n")
    with pytest.raises(RegionError, match="without BEGIN"):
        find_regions("pass\n# END SOLUTION\n")


def test_python_operators_make_the_expected_changes():
    by_description = {m.description: m for m in python_mutants()}
    assert "    for x in xs:\n        if not (x < limit):\n" in by_description["negate the condition"].mutated
    assert "if x <= limit:" in by_description["comparison Lt -> LtE"].mutated
    assert "total += 2" in by_description["1 -> 2"].mutated and "total += 0" in by_description["1 -> 0"].mutated
    assert "    pass\n    log(total)" in by_description["drop `send(total)`"].mutated
    assert by_description["drop `send(total)`"].operator == "drop-call"
    assert "    log(total)\n    send(total)\n" in by_description["swap lines 7 and 8"].mutated


def test_python_mutants_stay_inside_the_region_and_compile():
    mutants = python_mutants()
    assert mutants
    for m in mutants:
        assert m.mutated != PY and not m.stillborn, m.id
        assert m.outside_unchanged(), m.diff()
        compile(m.mutated, m.file, "exec")
    assert not any("== 3" in m.description or "7 ->" in m.description for m in mutants)  # outside: untouched


def test_python_stillborn_mutants_are_marked():
    same = "def f():\n    # BEGIN SOLUTION\n    a()\n    a()\n    # END SOLUTION\n"
    (swap,) = [m for m in python_ops.mutants("p", "p.py", same, "p") if m.operator == "swap"]
    assert swap.stillborn == "same as the reference after normalisation"
    broken = python_ops.stillborn(same, same.replace("a()\n    a()", "a(\n    a()"), "p.py")
    assert broken.startswith("does not compile")


def test_lua_mask_hides_strings_and_comments():
    assert lua_ops.mask("x('a == 1') -- b < 2") == "x('______') "
    assert lua_ops.normalise("a  =  1 -- c\n\n  b()\n") == "a = 1 b()"


def test_lua_operators_make_valid_changes_inside_the_region_only():
    mutants = lua_ops.mutants("lua", "l.lua", LUA, "lua")
    by_description = {m.description: m for m in mutants}
    assert "  if not (n == 0) then\n" in by_description["negate the condition"].mutated
    assert "if n ~= 0 then" in by_description["comparison == -> ~="].mutated
    assert "args[3 + n]" not in by_description["3 -> 2"].mutated
    assert "tonumber(args[(-1)])" not in LUA and any("(-1)" in m.mutated for m in mutants)
    xack = by_description["drop `redis.call('XACK', 's', 'g', args[3 + n])`"]
    assert xack.operator == "drop-call" and "XACK" not in xack.mutated
    for m in mutants:
        assert lua_ops.normalise(m.mutated) != lua_ops.normalise(LUA), m.id
        assert m.outside_unchanged(), m.diff()
        assert "'a == 1'" in m.mutated and "-- comment < 5" in m.mutated or m.operator.startswith("drop")
    swaps = [m for m in mutants if m.operator == "swap"]
    assert [m.line for m in swaps] == [7]  # never an if/end line, never a return
    assert not any(m.line in (1, 11, 12) for m in mutants)


@pytest.mark.parametrize("part", ALL_PARTS)
def test_every_mutant_of_the_reference_differs_and_stays_in_its_regions(part):
    mutants = part_mutants(part)
    assert mutants, f"{part}: no mutant (no solution region?)"
    for m in mutants:
        assert m.mutated != m.original, m.id
        assert m.outside_unchanged(), f"{m.id} changes a line outside the regions:\n{m.diff()}"
        if m.file.endswith(".py") and not m.stillborn:
            assert ast.dump(ast.parse(m.mutated)) != ast.dump(ast.parse(m.original)), m.id
    assert len({m.id for m in mutants}) == len(mutants), "mutant ids must be unique"


@pytest.mark.timeout(60)
def test_a_package_mutant_runs_its_own_copy_not_the_reference(tmp_path):
    """From the repository root `python -m mapper` finds the reference first (the current
    directory leads sys.path), so the mutant goes through a launcher package."""
    m = next(m for m in part_mutants("mapper") if not m.stillborn)
    launcher = materialise(m, tmp_path)
    copy = tmp_path / "mutant" / "mapper"
    assert (copy / "mapper.py").read_text() == m.mutated != (REPO / "mapper" / "mapper.py").read_text()
    (copy / "__main__.py").write_text("import mapper.mapper\nprint(mapper.mapper.__file__)\n")
    done = run_command([sys.executable, "-m", launcher.name], cwd=REPO, timeout=50,
                       env={"PYTHONPATH": os.pathsep.join((str(launcher.parent), str(REPO)))})
    assert done.exit_code == 0 and done.stdout.strip() == str(copy / "mapper.py"), describe(done)


def test_sampling_is_reproducible_and_unknown_ids_are_user_errors():
    sys.path.insert(0, str(REPO / "tests"))
    import mutate

    mutants = part_mutants("lua")
    first = mutate.pick(mutants, ["lua"], 5, 3, [])
    assert [m.id for m in first] == [m.id for m in mutate.pick(mutants, ["lua"], 5, 3, [])]
    assert [m.id for m in first] != [m.id for m in mutate.pick(mutants, ["lua"], 5, 4, [])]
    both = mutate.pick(part_mutants("worker") + mutants, ["worker", "lua"], 3, 1, [])
    assert [m.part for m in both] == ["worker", "lua"] * 3  # parts take turns
    with pytest.raises(UserError, match="no such mutant"):
        mutate.pick(mutants, ["lua"], 1, 1, ["lua:1:nothing"])


@pytest.mark.timeout(60)
@pytest.mark.parametrize("args, message", [
    (["--lab", "1", "--part", "mapper"], "not a part of lab 1"),
    (["--lab", "1", "--part", "tokenizer"], "no solution region"),
    (["--lab", "1", "--only", "nope"], "unknown item(s) nope"),
    (["--lab", "1", "--mutant", "lua:0:x"], "no such mutant"),
])
def test_user_mistakes_are_one_line(tmp_path, args, message):
    done = run_command([sys.executable, MUTATE, *args, "--out", tmp_path / "m"], cwd=REPO, env=THIS_CHECKOUT,
                       timeout=50)
    assert done.exit_code == 2, describe(done)
    assert done.stderr.strip().count("\n") == 0 and message in done.stderr, describe(done)


@pytest.mark.timeout(240)
def test_a_small_run_kills_the_dropped_xack(tmp_path):
    (xack,) = [m for m in part_mutants("lua") if m.operator == "drop-call" and "'XACK'" in m.description]
    out = tmp_path / "mutation"
    done = run_command([sys.executable, MUTATE, "--lab", "1", "--part", "lua", "--sample", "2", "--seed", "1",
                        "--mutant", xack.id, "--only", "one_worker", "slow_worker_stolen",
                        "--jobs-timeout-scale", "0.3", "--out", out], cwd=REPO, env=THIS_CHECKOUT, timeout=220)
    assert done.exit_code == 0, describe(done)
    report = json.loads((out / "mutation.json").read_text())
    assert (out / "mutation.md").is_file() and "lua" in done.stdout
    results = {r["id"]: r for r in report["results"]}
    assert len(results) in (2, 3) and xack.id in results
    assert results[xack.id]["status"] == "killed", results[xack.id]
    row = report["parts"]["lua"]
    assert row["graded"] == len(results) and row["killed"] + row["survived"] + row["errors"] == len(results)
    assert not report["partial"]
    for r in results.values():
        if r["status"] == "survived":
            assert r["diff"].startswith("--- a/lua/wordcount.lua")
    killed_dir = out / "mutants" / xack.id.replace(":", "_")
    (part,) = (killed_dir / "part").iterdir()
    assert "'XACK'" not in part.read_text() and "'XACK'" in (REPO / "lua" / "wordcount.lua").read_text()
    graded = json.loads((killed_dir / "grade" / "report.json").read_text())
    assert [i["status"] for i in graded["items"]] == ["fail", "skipped"]  # --stop-at-first-failure

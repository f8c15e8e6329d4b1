"""Line-level mutation operators for the Lua function library, applied only inside solution regions.

There is no Lua parser in the kit (nor, usually, a `luac` on the grading
machine), so the operators work on lines and keep the text valid Lua by
construction: they look at code with string literals and comments masked
out, negate only a whole `if`/`while` condition, drop or swap only lines
that are one complete simple statement (never moving a `return`, which Lua
wants last in its block), and write a negative number in parentheses (`a - -1`
would start a comment). When a `luac` is on PATH it checks every mutant too.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from kit.mutation.regions import Mutant, Region, find_regions

FLIP = {"==": "~=", "~=": "==", "<": "<=", "<=": "<", ">": ">=", ">=": ">"}
_COMPARE = re.compile(r"==|~=|<=|>=|<|>")
_NUMBER = re.compile(r"(?<![\w.])\d+(?![\w.])")
_CONDITION = re.compile(r"^(\s*(?:elseif|if|while)\s+)(.+?)(\s+(?:then|do)\b.*)$")
_BLOCK = re.compile(r"^\s*(if|elseif|else|end|for|while|do|repeat|until|function|local\s+function)\b")


def mask(line: str) -> str:
    """`line` with the inside of string literals blanked and any comment cut, same length up to the comment."""
    out: list[str] = []
    quote = ""
    i = 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == "\\":
                out.append("__")
                i += 2
                continue
            out.append(ch if ch == quote else "_")
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
            out.append(ch)
        elif line.startswith("--", i):
            break
        else:
            out.append(ch)
        i += 1
    return "".join(out)[:len(line)]


def normalise(text: str) -> str:
    """The code without comments and with whitespace collapsed: equal means the same program."""
    return " ".join(" ".join(mask(line).split()) for line in text.splitlines() if mask(line).strip())


def _balanced(code: str) -> bool:
    return all(code.count(a) == code.count(b) for a, b in ("()", "[]", "{}"))


def simple_statement(line: str) -> bool:
    """A line that is one whole statement (no block opener or closer, brackets balanced)."""
    code = mask(line).strip()
    return bool(code) and not _BLOCK.match(code) and not code.endswith(("then", "do", ",")) and _balanced(code)


def _negations(line: str) -> list[tuple[str, str, str]]:
    match = _CONDITION.match(mask(line))
    if not match:
        return []
    start, end = match.start(2), match.end(2)
    cond = line[start:end]
    if cond.startswith("not (") and cond.endswith(")"):
        return [("negate", "remove the `not`", line[:start] + cond[5:-1] + line[end:])]
    return [("negate", "negate the condition", f"{line[:start]}not ({cond}){line[end:]}")]


def _comparisons(line: str) -> list[tuple[str, str, str]]:
    return [("compare", f"comparison {m.group()} -> {FLIP[m.group()]}",
             line[:m.start()] + FLIP[m.group()] + line[m.end():]) for m in _COMPARE.finditer(mask(line))]


def _numbers(line: str) -> list[tuple[str, str, str]]:
    out = []
    for m in _NUMBER.finditer(mask(line)):
        for delta in (1, -1):
            value = int(m.group()) + delta
            text = str(value) if value >= 0 else f"({value})"
            out.append(("constant", f"{m.group()} -> {value}", line[:m.start()] + text + line[m.end():]))
    return out


def _drop(line: str) -> list[tuple[str, str, str]]:
    if not simple_statement(line):
        return []
    code = line.strip()
    op = "drop-call" if code.startswith("redis.call(") else "drop-statement"
    indent = line[:len(line) - len(line.lstrip())]
    return [(op, f"drop `{code}`", f"{indent}-- (dropped by mutation)\n")]


def _swappable(a: str, b: str) -> bool:
    def indent(s: str) -> str:
        return s[:len(s) - len(s.lstrip())]
    return (simple_statement(a) and simple_statement(b) and indent(a) == indent(b)
            and not mask(a).strip().startswith("return") and not mask(b).strip().startswith("return"))


def sites(lines: list[str], regions: list[Region]) -> list[tuple[str, int, str, list[str]]]:
    """(operator, line number, description, mutated lines) for every site, in line order."""
    out = []
    for region in regions:
        for n in range(region.first, region.last + 1):
            line = lines[n - 1]
            for op, description, new in [*_negations(line), *_comparisons(line), *_numbers(line), *_drop(line)]:
                out.append((op, n, description, [*lines[:n - 1], new, *lines[n:]]))
            if n < region.last and _swappable(line, lines[n]):
                out.append(("swap", n, f"swap lines {n} and {n + 1}", [*lines[:n - 1], lines[n], line, *lines[n + 1:]]))
    return out


def luac_error(text: str) -> str:
    """`luac -p`'s complaint about `text`, or "" (also when no luac is installed)."""
    luac = next((p for p in map(shutil.which, ("luac", "luac5.1", "luac5.4")) if p), None)
    if luac is None:
        return ""
    with tempfile.TemporaryDirectory(prefix="wc-mutant-") as tmp:
        path = Path(tmp) / "mutant.lua"
        path.write_text(text, encoding="utf-8")
        done = subprocess.run([luac, "-p", str(path)], capture_output=True, text=True, timeout=30)
    return done.stderr.strip().splitlines()[-1] if done.returncode else ""


def mutants(part: str, file: str, text: str, id_prefix: str) -> list[Mutant]:
    """Every mutant of the Lua file, stillborn ones included (marked)."""
    regions = find_regions(text, file)
    lines = text.splitlines(keepends=True)
    out: list[Mutant] = []
    seen: dict[str, str] = {normalise(text): "the reference"}
    taken: dict[str, int] = {}
    for op, n, description, new_lines in sites(lines, regions):
        mutated = "".join(new_lines)
        base = f"{id_prefix}:{n}:{op}"
        taken[base] = taken.get(base, 0) + 1
        mid = base if taken[base] == 1 else f"{base}.{taken[base]}"
        key = normalise(mutated)
        why = f"same as {seen[key]} after normalisation" if key in seen else ""
        why = why or (f"does not compile: {err}" if (err := luac_error(mutated)) else "")
        seen.setdefault(key, f"mutant {mid}")
        out.append(Mutant(mid, part, file, op, n, description, text, mutated, why))
    return out

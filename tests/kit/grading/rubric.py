"""The rubric file (tests/rubric.json): loading it and rejecting mistakes in one line.

An instructor edits the rubric by hand, so every mistake (a typo in a key, a
missing field, a duplicate id, a bad expectation) is reported as a
`UserError` naming the file and the item, before anything runs.
"""
from __future__ import annotations

import operator
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from kit.grading.checks import CHECKS
from wordcount.config import read_json_object
from wordcount.config_legacy import upgrade_layout
from wordcount.errors import UserError
from wordcount.record import RunRecord

ITEM_KEYS = {"id", "title", "points", "timeout_s", "args", "corpus", "settings", "expect", "kind", "max_ratio",
             "budgets", "alone"}
LAB_KEYS = {"title", "corpus", "skip_after_failure", "settings", "items", "expect", "budgets"}
# budget name -> the terms of its bound: seconds = base + per_process * processes + serial * serial count's seconds
BUDGET_TERMS = {"cpu_s": ("base", "per_process", "serial"), "elapsed_s": ("base", "serial"),
                "redis_commands": ("base", "per_file", "per_worker_s")}
TOP_KEYS = {"seed", "log_tail_lines", "corpora", "labs"}
KINDS = ("correct", "speed")
# Flags the grader sets itself; a rubric setting them would make the run and the serial count disagree.
RESERVED_FLAGS = ("--config", "--data", "--output", "--record", "--redis-url", "--tokenizer", "--part", "--verify")
OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, "==": operator.eq, "!=": operator.ne, ">": operator.gt, "<": operator.lt,
}
_EXPECT = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?)\s*$")


@dataclass(frozen=True)
class Expectation:
    """`field op value`, e.g. stolen >= 1; `trace.kill` counts trace events named kill;
    `check.stale_completions` counts the violations a trace check (kit/grading/checks.py) finds."""

    field: str
    op: str
    value: float

    def holds(self, actual: float) -> bool:
        return OPS[self.op](actual, self.value)

    def __str__(self) -> str:
        return f"{self.field} {self.op} {self.value:g}"


@dataclass(frozen=True)
class Budget:
    """A bound in seconds on what an item's job may use: `base + per_process *
    processes + serial * serial_s`, where processes counts every process the job
    started (restarts included) and serial_s is the serial count's time on the
    item's data. `cpu_s` bounds the CPU time of the whole job (busy polling
    blows it while correct parts wait mostly idle); `elapsed_s` bounds its wall
    time (a part that stalls or spins where it should move on)."""

    name: str
    base: float = 0.0
    per_process: float = 0.0
    serial: float = 0.0
    per_file: float = 0.0  # redis_commands: requests allowed per input file (the work)
    per_worker_s: float = 0.0  # redis_commands: per second of the job per worker (blocking reads, timers)

    def seconds(self, processes: int, serial_s: float) -> float:
        return self.base + self.per_process * processes + self.serial * serial_s

    def requests(self, files: int, worker_s: float) -> float:
        """The redis_commands bound: what the work needs plus what waiting on blocking reads costs."""
        return self.base + self.per_file * files + self.per_worker_s * worker_s


@dataclass(frozen=True)
class Corpus:
    """A synthetic corpus: data/generate.py --size SIZE --files FILES --seed SEED."""

    name: str
    size: str
    files: int


@dataclass(frozen=True)
class Item:
    id: str
    title: str
    points: float
    timeout_s: float
    args: tuple[str, ...]
    corpus: str
    settings: dict = field(default_factory=dict)
    expect: tuple[Expectation, ...] = ()
    kind: str = "correct"
    max_ratio: float = 0.0
    budgets: tuple[Budget, ...] = ()
    alone: bool = False  # runs by itself, never side by side with another item (speed items always do)


@dataclass(frozen=True)
class Lab:
    number: int
    title: str
    skip_after_failure: bool
    settings: dict
    items: tuple[Item, ...]


@dataclass(frozen=True)
class Rubric:
    path: str
    seed: int
    log_tail_lines: int
    corpora: dict[str, Corpus]
    labs: dict[int, Lab]

    def lab(self, number: int) -> Lab:
        if number not in self.labs:
            raise UserError(f"rubric {self.path}: no lab {number} (labs: {', '.join(map(str, sorted(self.labs)))})")
        return self.labs[number]


def _need(cond: bool, where: str, message: str) -> None:
    if not cond:
        raise UserError(f"{where}: {message}")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_keys(raw: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(k for k in raw if k not in allowed and not k.startswith("_"))
    _need(not unknown, where, f"unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(allowed))})")


def _settings(raw: dict, where: str) -> dict[str, Any]:
    """A lab's or item's config settings, in the current layout (an older rubric
    may still give Lab 1 settings at the top level: warned about, then moved)."""
    settings = raw.get("settings", {})
    _need(isinstance(settings, dict), where, "'settings' must be an object")
    return upgrade_layout(settings, f"{where}: settings")


def parse_expectation(name: str, spec: Any, where: str) -> Expectation:
    match = _EXPECT.match(spec) if isinstance(spec, str) else None
    _need(match is not None, where, f"expect {name!r}: {spec!r} is not like '>= 1' (ops: {' '.join(OPS)})")
    assert match is not None
    check = name.partition("check.")[2] if name.startswith("check.") else None
    _need(check is None or check in CHECKS, where,
          f"expect {name!r}: no such check (checks: {', '.join('check.' + c for c in CHECKS)})")
    _need(name.startswith(("trace.", "check.")) or name in RunRecord.number_fields(), where,
          f"expect {name!r}: not a number of the run record (docs/record.md: {', '.join(RunRecord.number_fields())})")
    return Expectation(name, match.group(1), float(match.group(2)))


def _budget_specs(raw: Any, where: str) -> dict[str, dict[str, float]]:
    """A `budgets` object: {"cpu_s": {"base": 1, "per_process": 0.5, "serial": 3}, "elapsed_s": {...}}."""
    _need(isinstance(raw, dict), where, "'budgets' must be an object like {\"cpu_s\": {\"base\": 1}}")
    out: dict[str, dict[str, float]] = {}
    for name, terms in raw.items():
        if name.startswith("_"):
            continue
        _need(name in BUDGET_TERMS, where, f"budget {name!r}: unknown (budgets: {', '.join(BUDGET_TERMS)})")
        _need(isinstance(terms, dict) and terms, where, f"budget {name!r} must be an object of terms")
        for term, value in terms.items():
            _need(term in BUDGET_TERMS[name], where,
                  f"budget {name!r}: unknown term {term!r} (terms: {', '.join(BUDGET_TERMS[name])})")
            _need(_number(value) and value >= 0, where, f"budget {name!r}: {term} must be a number >= 0")
        out[name] = {k: float(v) for k, v in terms.items()}
    return out


def _budgets(lab: dict[str, dict[str, float]], item: dict[str, dict[str, float]]) -> tuple[Budget, ...]:
    """The lab's budgets with the item's terms on top (an item may also add one)."""
    names = sorted({*lab, *item})
    return tuple(Budget(n, **{**lab.get(n, {}), **item.get(n, {})}) for n in names)


def _item(raw: Any, where: str, corpora: dict[str, Corpus], lab_corpus: str,
          lab_expect: dict[str, Any] | None = None, lab_budgets: dict[str, dict[str, float]] | None = None) -> Item:
    _need(isinstance(raw, dict), where, "each item must be an object")
    where = f"{where} {raw.get('id', '?')!r}"
    _check_keys(raw, ITEM_KEYS, where)
    _need(isinstance(raw.get("id"), str) and re.fullmatch(r"[A-Za-z0-9_.-]+", raw["id"]) is not None, where,
          "'id' must be a name of letters, digits, _ . -")
    _need(_number(raw.get("points")) and raw["points"] >= 0, where, "'points' must be a number >= 0")
    _need(_number(raw.get("timeout_s")) and raw["timeout_s"] > 0, where, "'timeout_s' must be a number > 0")
    args = raw.get("args", [])
    _need(isinstance(args, list) and all(isinstance(a, str) for a in args), where, "'args' must be a list of strings")
    reserved = sorted({a.split("=", 1)[0] for a in args} & set(RESERVED_FLAGS))
    _need(not reserved, where, f"'args' must not set {', '.join(reserved)}: the grader sets those "
          "(put settings such as the tokenizer in 'settings')")
    corpus = raw.get("corpus", lab_corpus)
    _need(corpus in corpora, where, f"corpus {corpus!r} is not in 'corpora' ({', '.join(corpora)})")
    settings = _settings(raw, where)
    expect = raw.get("expect", {})
    _need(isinstance(expect, dict), where, "'expect' must be an object like {\"stolen\": \">= 1\"}")
    expect = {**(lab_expect or {}), **expect}
    budgets = _budgets(lab_budgets or {}, _budget_specs(raw.get("budgets", {}), where))
    kind = raw.get("kind", "correct")
    _need(kind in KINDS, where, f"'kind' must be one of {', '.join(KINDS)}")
    max_ratio = raw.get("max_ratio", 0.0)
    if kind == "speed":
        _need(_number(max_ratio) and max_ratio > 0, where, "a speed item needs 'max_ratio' > 0")
    return Item(
        id=raw["id"], title=str(raw.get("title", raw["id"])), points=float(raw["points"]),
        timeout_s=float(raw["timeout_s"]), args=tuple(args), corpus=corpus, settings=settings,
        expect=tuple(parse_expectation(k, v, where) for k, v in expect.items()), kind=kind,
        max_ratio=float(max_ratio), budgets=budgets, alone=bool(raw.get("alone", False)) or kind == "speed",
    )


def _lab(number: int, raw: Any, where: str, corpora: dict[str, Corpus]) -> Lab:
    _need(isinstance(raw, dict), where, "must be an object")
    _check_keys(raw, LAB_KEYS, where)
    corpus = raw.get("corpus", next(iter(corpora), ""))
    _need(isinstance(raw.get("items"), list) and raw["items"], where, "'items' must be a non-empty list")
    expect = raw.get("expect", {})
    _need(isinstance(expect, dict), where, "'expect' must be an object like {\"check.repeated_work\": \"== 0\"}")
    budgets = _budget_specs(raw.get("budgets", {}), where)
    items = tuple(_item(r, f"{where} item", corpora, corpus, expect, budgets) for r in raw["items"])
    ids = [i.id for i in items]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    _need(not dupes, where, f"duplicate item id(s) {', '.join(dupes)}")
    settings = _settings(raw, where)
    return Lab(number, str(raw.get("title", f"Lab {number}")), bool(raw.get("skip_after_failure", False)),
               settings, items)


def _corpora(raw: Any, where: str) -> dict[str, Corpus]:
    _need(isinstance(raw, dict) and raw, where, "'corpora' must be an object of {name: {size, files}}")
    out = {}
    for name, spec in raw.items():
        _need(isinstance(spec, dict) and isinstance(spec.get("size"), str) and isinstance(spec.get("files"), int)
              and spec["files"] >= 1, where, f"corpus {name!r} must be like {{\"size\": \"2MB\", \"files\": 60}}")
        out[name] = Corpus(name, spec["size"], spec["files"])
    return out


def load_rubric(path: str | Path) -> Rubric:
    """Read and check the whole rubric; any mistake is a one-line UserError."""
    where = f"rubric {path}"
    raw = read_json_object(str(path), "rubric", "--rubric")
    _check_keys(raw, TOP_KEYS, where)
    _need(isinstance(raw.get("seed", 1), int), where, "'seed' must be an integer")
    _need(isinstance(raw.get("log_tail_lines", 20), int), where, "'log_tail_lines' must be an integer")
    corpora = _corpora(raw.get("corpora"), where)
    labs_raw = raw.get("labs")
    _need(isinstance(labs_raw, dict) and labs_raw, where, "'labs' must be an object like {\"1\": {...}}")
    labs: dict[int, Lab] = {}
    for key, lab_raw in labs_raw.items():
        _need(key.isdigit(), where, f"lab key {key!r} must be a number")
        labs[int(key)] = _lab(int(key), lab_raw, f"{where}: lab {key}", corpora)
    return Rubric(str(path), raw.get("seed", 1), raw.get("log_tail_lines", 20), corpora, labs)


def select(lab: Lab, only: list[str] | None, where: str) -> list[Item]:
    """The items to run, in rubric order; unknown ids are a user error."""
    if not only:
        return list(lab.items)
    known = {i.id for i in lab.items}
    unknown = [i for i in only if i not in known]
    _need(not unknown, where, f"unknown item(s) {', '.join(unknown)} for lab {lab.number} "
          f"(items: {', '.join(i.id for i in lab.items)})")
    return [i for i in lab.items if i.id in only]

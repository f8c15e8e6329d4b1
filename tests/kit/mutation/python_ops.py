"""AST-level mutation operators for the Python parts, applied only inside solution regions.

Each operator finds its sites in the parsed reference and makes the change by
splicing replacement text over the exact source span of one node, so the
rest of the file (comments, layout) is untouched and the diff of a mutant is
one or two lines. The operators are the mistakes a student plausibly makes in
these regions: a negated condition, a forgotten statement or call (a resend,
a claim refresh, an ack), two steps in the wrong order, an off-by-one
comparison or constant.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Iterator

from kit.mutation.regions import Mutant, Region, find_regions, inside

# Each comparison operator and the one it is most easily confused with.
COMPARE_SWAP: dict[type, type] = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
    ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
}
BODY_FIELDS = ("body", "orelse", "finalbody")


@dataclass(frozen=True)
class Edit:
    """Replace the source from (line, col) to (end_line, end_col) by `text`; cols are UTF-8 byte offsets
    (as the ast module gives them)."""

    line: int
    col: int
    end_line: int
    end_col: int
    text: str


class Source:
    """The reference text with the byte offsets of its lines, for splicing edits."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.data = text.encode("utf-8")
        self.starts = [0]
        for line in self.data.splitlines(keepends=True):
            self.starts.append(self.starts[-1] + len(line))

    def offset(self, line: int, col: int) -> int:
        return self.starts[line - 1] + col

    def segment(self, node: ast.AST) -> str:
        return self.data[self.offset(node.lineno, node.col_offset):
                         self.offset(node.end_lineno, node.end_col_offset)].decode("utf-8")

    def apply(self, *edits: Edit) -> str:
        """The text with non-overlapping `edits` applied (the last one first, so offsets stay valid)."""
        data = self.data
        for e in sorted(edits, key=lambda e: (e.line, e.col), reverse=True):
            data = data[:self.offset(e.line, e.col)] + e.text.encode("utf-8") + data[self.offset(e.end_line, e.end_col):]
        return data.decode("utf-8")


def _edit(node: ast.AST, text: str) -> Edit:
    return Edit(node.lineno, node.col_offset, node.end_lineno, node.end_col_offset, text)


def _in_region(node: ast.AST, regions: list[Region]) -> bool:
    return hasattr(node, "lineno") and inside(regions, node.lineno, node.end_lineno)


def _negations(node: ast.AST, src: Source) -> Iterator[tuple[str, ast.AST, str, list[Edit]]]:
    if isinstance(node, (ast.If, ast.While, ast.IfExp)):
        test = node.test
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            yield "negate", test, "remove the `not`", [_edit(test, f"({src.segment(test.operand)})")]
        else:
            yield "negate", test, "negate the condition", [_edit(test, f"not ({src.segment(test)})")]


def _comparisons(node: ast.AST, src: Source) -> Iterator[tuple[str, ast.AST, str, list[Edit]]]:
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            if type(op) in COMPARE_SWAP:
                new = ast.Compare(node.left, [*node.ops[:i], COMPARE_SWAP[type(op)](), *node.ops[i + 1:]],
                                  node.comparators)
                text = ast.unparse(new)
                yield "compare", node, f"comparison {type(op).__name__} -> {COMPARE_SWAP[type(op)].__name__}", \
                    [_edit(node, text)]


def _constants(node: ast.AST, src: Source) -> Iterator[tuple[str, ast.AST, str, list[Edit]]]:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        for delta in (1, -1):
            value = node.value + delta
            yield "constant", node, f"{node.value} -> {value}", [_edit(node, str(value) if value >= 0 else f"({value})")]


def _drops(node: ast.AST, src: Source) -> Iterator[tuple[str, ast.AST, str, list[Edit]]]:
    if isinstance(node, ast.stmt) and not isinstance(node, ast.Pass):
        call = isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            return  # a docstring or a bare literal: nothing to drop
        yield ("drop-call" if call else "drop-statement"), node, \
            f"drop `{src.segment(node).splitlines()[0].strip()}`", [_edit(node, "pass")]


def _swaps(node: ast.AST, src: Source, regions: list[Region]) -> Iterator[tuple[str, ast.AST, str, list[Edit]]]:
    for name in BODY_FIELDS:
        body = getattr(node, name, None)
        if not isinstance(body, list):
            continue
        for a, b in zip(body, body[1:]):
            if isinstance(a, ast.stmt) and isinstance(b, ast.stmt) and _in_region(a, regions) \
                    and _in_region(b, regions):
                yield "swap", a, f"swap lines {a.lineno} and {b.lineno}", \
                    [_edit(a, src.segment(b)), _edit(b, src.segment(a))]


def sites(tree: ast.AST, src: Source, regions: list[Region]) -> Iterator[tuple[str, ast.AST, str, list[Edit]]]:
    """(operator, node, description, edits) for every mutation site within the regions, in source order."""
    nodes = sorted((n for n in ast.walk(tree) if hasattr(n, "lineno")), key=lambda n: (n.lineno, n.col_offset))
    for node in [tree, *nodes]:
        yield from _swaps(node, src, regions)
        if not _in_region(node, regions):
            continue
        for make in (_negations, _comparisons, _constants, _drops):
            yield from make(node, src)


def stillborn(original: str, mutated: str, name: str) -> str:
    """Why the mutant is not worth grading, or "": it does not compile, or it has the reference's AST."""
    try:
        tree = ast.parse(mutated, name)
        compile(tree, name, "exec")
    except (SyntaxError, ValueError) as exc:
        return f"does not compile: {exc}"
    if ast.dump(tree) == ast.dump(ast.parse(original, name)):
        return "same as the reference after normalisation"
    return ""


def mutants(part: str, file: str, text: str, id_prefix: str) -> list[Mutant]:
    """Every mutant of one Python file, stillborn ones included (marked)."""
    regions = find_regions(text, file)
    if not regions:
        return []
    src = Source(text)
    out: list[Mutant] = []
    seen: dict[str, str] = {}
    taken: dict[str, int] = {}
    for op, node, description, edits in sites(ast.parse(text, file), src, regions):
        mutated = src.apply(*edits)
        base = f"{id_prefix}:{node.lineno}:{op}"
        taken[base] = taken.get(base, 0) + 1
        mid = base if taken[base] == 1 else f"{base}.{taken[base]}"
        why = stillborn(text, mutated, file)
        if not why:
            key = ast.dump(ast.parse(mutated))
            why = f"same as mutant {seen[key]}" if key in seen else ""
            seen.setdefault(key, mid)
        out.append(Mutant(mid, part, file, op, node.lineno, description, text, mutated, why))
    return out

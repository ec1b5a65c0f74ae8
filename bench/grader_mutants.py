"""Grader strength by mutation testing (DESIGN §9): small AST mutants of each reference solution, graded.

Usage: python bench/grader_mutants.py [ID ...] [--jobs 2] [--timeout 10] [--sample N --seed S] [--quiet]

Each mutant is the reference solution (solutions/<module>.py) with one small edit: an arithmetic or
comparison operator swapped, an integer constant nudged by ±1, a `dim=`/`axis=` argument or a boolean
changed, a statement dropped, a call replaced by its argument (a dropout, a `.train()`, a `.contiguous()`),
a residual add replaced by one of its sides, two arguments swapped, or a slice bound removed or moved.
Every mutant is graded through the warm grading server, as a learner's file would be, with a short time
limit (a mutant that loops forever is a timeout, and so killed).

A mutant is *killed* when grading does not pass it. A survivor is either a gap in the checks or an
*equivalent* mutant (it computes the same thing); equivalent ones are listed, each with a one-line reason,
in tests/graders/equivalent_mutants.toml, identified by exercise, the original code line and the mutated
one (plus `#n` when the same edit occurs more than once), so unrelated edits do not change the ids.

Prints, per exercise, made / killed / equivalent / survived and a diff of every unlisted survivor; the last
line is exactly `mutants: made=N killed=K equivalent=E survived=S` (other tools read it). Exit status 1 when
S > 0 (or when a listed equivalent mutant was killed: the list is stale).
"""

from __future__ import annotations

import argparse
import ast
import copy
import difflib
import random
import sys
import tempfile
import threading
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tutor import curriculum  # noqa: E402

EQUIVALENT_FILE = ROOT / "tests" / "graders" / "equivalent_mutants.toml"
DEFAULT_TIMEOUT = 10.0

_BINOP_SWAPS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Div,
                ast.Mod: ast.FloorDiv, ast.Pow: ast.Mult, ast.MatMult: ast.Mult}
_CMP_SWAPS = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
              ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In}
_ATOMS = (ast.Name, ast.Attribute, ast.Call, ast.Subscript, ast.Constant, ast.List, ast.Tuple, ast.Dict,
          ast.Slice)  # a slice is never parenthesized
_DIM_KEYWORDS = {"dim", "axis", "dims"}


@dataclass
class Mutant:
    exercise: str
    kind: str
    original_line: str  # the first changed line of the reference, stripped
    mutated_line: str   # the same line in the mutant, stripped ("" when the line is gone)
    source: str
    occurrence: int = 1

    @property
    def id(self) -> str:
        n = f" #{self.occurrence}" if self.occurrence > 1 else ""
        return f"{self.exercise}: {self.original_line} -> {self.mutated_line}{n}"

    def diff(self, reference: str) -> str:
        lines = difflib.unified_diff(reference.splitlines(keepends=True), self.source.splitlines(keepends=True),
                                     f"solutions/{self.exercise}.py", f"mutant ({self.kind})", n=1)
        return "".join(lines)


# -- making mutants -----------------------------------------------------------------------------------------
class _Sites(ast.NodeVisitor):
    """Every (node, replacement node or text, kind) the mutation operators allow, outside docstrings."""

    def __init__(self):
        self.edits: list[tuple[ast.AST, object, str]] = []
        self._docstrings: set[int] = set()

    def visit(self, node):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(
                    first.value.value, str):
                self._docstrings.add(id(first))
        return super().visit(node)

    def _add(self, node, replacement, kind):
        self.edits.append((node, replacement, kind))

    def generic_visit(self, node):
        if id(node) in self._docstrings:
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            return
        # drop a statement (inside functions and classes; module-level statements are definitions)
        if isinstance(node, ast.stmt) and not isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Pass)) \
                and getattr(node, "_in_def", False):
            self._add(node, "pass", "drop statement")
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt) and (isinstance(node, (ast.FunctionDef, ast.ClassDef))
                                                or getattr(node, "_in_def", False)):
                child._in_def = True
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOP_SWAPS:
            m = copy.deepcopy(node)
            m.op = _BINOP_SWAPS[type(node.op)]()
            self._add(node, m, f"operator {type(node.op).__name__} -> {type(m.op).__name__}")
            if isinstance(node.op, ast.Add):
                self._add(node, node.left, "drop a residual add (keep the left side)")
                self._add(node, node.right, "drop a residual add (keep the right side)")
        if isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                if type(op) in _CMP_SWAPS:
                    m = copy.deepcopy(node)
                    m.ops[i] = _CMP_SWAPS[type(op)]()
                    self._add(node, m, f"comparison {type(op).__name__} -> {type(m.ops[i]).__name__}")
        if isinstance(node, ast.Constant) and type(node.value) is int:
            for delta in (1, -1):
                self._add(node, ast.Constant(node.value + delta), f"integer {node.value} -> {node.value + delta}")
        if isinstance(node, ast.Constant) and type(node.value) is bool:
            self._add(node, ast.Constant(not node.value), f"boolean {node.value} -> {not node.value}")
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg in _DIM_KEYWORDS:
                    current = ast.unparse(kw.value)
                    for other in ("0", "1", "-1", "-2"):
                        if other != current:
                            self._add(kw.value, ast.parse(other, mode="eval").body, f"{kw.arg}={current} -> {other}")
            if len(node.args) == 1 and not node.keywords and not isinstance(node.args[0], ast.Starred):
                self._add(node, node.args[0], "call -> its argument")
            if not node.args and not node.keywords and isinstance(node.func, ast.Attribute):
                self._add(node, node.func.value, f"drop the call .{node.func.attr}()")
            for i in range(len(node.args) - 1):
                a, b = node.args[i], node.args[i + 1]
                if isinstance(a, ast.Starred) or isinstance(b, ast.Starred) or ast.dump(a) == ast.dump(b):
                    continue
                m = copy.deepcopy(node)
                m.args[i], m.args[i + 1] = m.args[i + 1], m.args[i]
                self._add(node, m, f"swap arguments {i + 1} and {i + 2}")
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple) and len(node.value.elts) == 2:
            m = copy.deepcopy(node.value)
            m.elts.reverse()
            self._add(node.value, m, "swap the returned pair")
        if isinstance(node, ast.Slice):
            for part in ("lower", "upper"):
                bound = getattr(node, part)
                if bound is None:
                    continue
                m = copy.deepcopy(node)
                setattr(m, part, None)
                self._add(node, m, f"remove the slice's {part} bound")
                if not (isinstance(bound, ast.Constant) or (isinstance(bound, ast.UnaryOp)
                                                             and isinstance(bound.operand, ast.Constant))):
                    for op in (ast.Add, ast.Sub):
                        m = copy.deepcopy(node)
                        setattr(m, part, ast.BinOp(copy.deepcopy(bound), op(), ast.Constant(1)))
                        self._add(node, m, f"slice {part} bound {'+' if op is ast.Add else '-'} 1")
        super().generic_visit(node)


def _replace(source: str, node: ast.AST, replacement: object) -> str:
    """`source` with `node`'s text replaced by `replacement` (a node, unparsed, or text)."""
    lines = source.encode("utf-8").splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    data = b"".join(lines)
    a = starts[node.lineno - 1] + node.col_offset
    b = starts[node.end_lineno - 1] + node.end_col_offset
    if isinstance(replacement, str):
        text = replacement
    else:
        text = ast.unparse(replacement)
        if isinstance(node, ast.expr) and not isinstance(replacement, _ATOMS):
            text = f"({text})"
    return (data[:a] + text.encode("utf-8") + data[b:]).decode("utf-8")


def _changed_lines(reference: str, mutated: str) -> tuple[str, str]:
    """The first line that differs, before and after, without its comment (so rewording one keeps the id)."""
    from tutor.grading.framework import _strip_comments

    ref, mut = reference.splitlines(), mutated.splitlines()
    i = 0
    while i < min(len(ref), len(mut)) and ref[i] == mut[i]:
        i += 1

    def code(lines):
        return _strip_comments(lines[i]).strip() if i < len(lines) else ""

    return code(ref), code(mut)


def make_mutants(exercise_id: str) -> list[Mutant]:
    """Every distinct, compilable mutant of the exercise's reference solution, in source order."""
    ex = curriculum.load().get(exercise_id)
    reference = ex.solution_path.read_text(encoding="utf-8")
    sites = _Sites()
    sites.visit(ast.parse(reference))
    mutants, seen, counts = [], {reference}, {}
    for node, replacement, kind in sites.edits:
        try:
            source = _replace(reference, node, replacement)
            compile(source, "<mutant>", "exec")
        except (SyntaxError, ValueError):
            continue
        if source in seen or ast.dump(ast.parse(source)) == ast.dump(ast.parse(reference)):
            continue
        seen.add(source)
        before, after = _changed_lines(reference, source)
        key = (before, after)
        counts[key] = counts.get(key, 0) + 1
        mutants.append(Mutant(exercise_id, kind, before, after, source, counts[key]))
    return mutants


# -- equivalent mutants ---------------------------------------------------------------------------------------
def load_equivalent(path: Path = EQUIVALENT_FILE) -> dict[str, str]:
    """id -> reason for every mutant listed as equivalent."""
    if not path.exists():
        return {}
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    out = {}
    for entry in data.get("equivalent", []):
        m = Mutant(entry["exercise"], "", entry["line"], entry["mutant"], "", int(entry.get("occurrence", 1)))
        if not entry.get("reason", "").strip():
            raise ValueError(f"{path}: {m.id} has no reason")
        out[m.id] = entry["reason"]
    return out


# -- grading -------------------------------------------------------------------------------------------------
def grade_mutants(mutants: list[Mutant], jobs: int = 2, timeout: float = DEFAULT_TIMEOUT, server_factory=None,
                  progress=None) -> dict[str, str]:
    """id -> grading status ('passed' means the mutant survived). One warm grading server per job."""
    from tutor.grading.runner import GradingServer

    tmp = Path(tempfile.mkdtemp(prefix="tutor-mutants-"))
    modules = {ex.id: ex.module for ex in curriculum.load().exercises}
    results: dict[str, str] = {}
    queue = list(enumerate(mutants))
    lock = threading.Lock()

    def worker(server):
        while True:
            with lock:
                if not queue:
                    return
                i, m = queue.pop(0)
            folder = tmp / f"{i:05d}" / "exercises"
            folder.mkdir(parents=True)
            f = folder / modules[m.exercise]
            f.write_text(m.source, encoding="utf-8")
            status = server.grade_file(m.exercise, f, timeout=timeout).status
            with lock:
                results[m.id] = status
                if progress:
                    progress(len(results), len(mutants))

    if server_factory is not None:  # one given server (the test suite's warm one)
        worker(server_factory())
        return results
    servers = [GradingServer(timeout=timeout) for _ in range(max(1, jobs))]
    try:
        for s in servers:
            s.start()
        threads = [threading.Thread(target=worker, args=(s,)) for s in servers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for s in servers:
            s.close()
    return results


def sample(mutants: list[Mutant], n: int, seed: int) -> list[Mutant]:
    rng = random.Random(seed)
    return sorted(rng.sample(mutants, min(n, len(mutants))), key=mutants.index)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ids", nargs="*", help="exercise ids (default: all)")
    ap.add_argument("--jobs", type=int, default=2, help="grading servers in parallel")
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per mutant")
    ap.add_argument("--sample", type=int, default=0, help="grade only N mutants per exercise (seeded)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--list", action="store_true", help="list the mutants' ids without grading them")
    ap.add_argument("--quiet", action="store_true", help="no diffs of survivors")
    args = ap.parse_args(argv)

    cur = curriculum.load()
    ids = args.ids or cur.ids()
    for i in ids:
        cur.get(i)  # fails clearly on an unknown id
    equivalent = load_equivalent()
    per_ex = {}
    for ex_id in ids:
        ms = make_mutants(ex_id)
        per_ex[ex_id] = sample(ms, args.sample, args.seed) if args.sample else ms
    if args.list:
        for ms in per_ex.values():
            for m in ms:
                print(f"{m.id}    [{m.kind}]")
        return 0
    everything = [m for ms in per_ex.values() for m in ms]
    start = time.perf_counter()

    def progress(done, total):
        if done % 25 == 0 or done == total:
            print(f"  graded {done}/{total} ({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)

    status = grade_mutants(everything, jobs=args.jobs, timeout=args.timeout, progress=progress)
    totals = dict(made=0, killed=0, equivalent=0, survived=0)
    stale = []
    print(f"{'exercise':22s} {'made':>5s} {'killed':>7s} {'equiv':>6s} {'survived':>9s}")
    for ex_id, ms in per_ex.items():
        reference = cur.get(ex_id).solution_path.read_text(encoding="utf-8")
        made = len(ms)
        survivors = [m for m in ms if status[m.id] == "passed"]
        equiv = [m for m in survivors if m.id in equivalent]
        gaps = [m for m in survivors if m.id not in equivalent]
        stale += [m for m in ms if m.id in equivalent and status[m.id] != "passed"]
        killed = made - len(survivors)
        print(f"{ex_id:22s} {made:5d} {killed:7d} {len(equiv):6d} {len(gaps):9d}")
        for key, value in (("made", made), ("killed", killed), ("equivalent", len(equiv)),
                           ("survived", len(gaps))):
            totals[key] += value
        if not args.quiet:
            for m in gaps:
                print(f"\n  SURVIVED [{m.kind}] {m.id}\n" + "".join(f"    {line}\n" for line in
                                                               m.diff(reference).splitlines()))
    for m in stale:
        print(f"  listed as equivalent but killed ({status[m.id]}): {m.id}")
    print(f"({time.perf_counter() - start:.0f} s)")
    print(f"mutants: made={totals['made']} killed={totals['killed']} equivalent={totals['equivalent']} "
          f"survived={totals['survived']}")
    return 1 if totals["survived"] or stale else 0


if __name__ == "__main__":
    sys.exit(main())

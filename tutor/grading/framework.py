"""The API hidden check modules are written in: suites, compare-checks, property checks, known mistakes.

A check module (``tutor/checks/check_<id>.py``) defines ``suite = Suite("<id>")`` and functions named
``check_*``:

* ``@suite.compare(title)`` marks a *probe*: a function of an implementation module that returns values
  (tensors, numbers, strings, lists, dicts). The grader runs it on the reference and on every declared
  mistake **before** the learner's module is imported, then on the learner's module, and compares.
  When the learner's values match a mistake's, the failure names that mistake.
* ``@suite.check(title)`` marks a property check on the learner's module (pytest fixture ``learner``,
  and ``reference``); it fails by raising :class:`CheckFailed`.
* ``suite.mistake(key, description, lesson=, replace=[(old, new), ...])`` declares a known mistake as a
  text variant of the reference solution.

This module must not import the learner's code, the UI, or anything slow besides torch.
"""

from __future__ import annotations

import functools
import math
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from tutor.grading.results import KNOWN_MISTAKE

# Bound at import time, before any learner code runs, so patching torch cannot change a comparison.
_allclose = torch.allclose
_isclose = torch.isclose
_is_tensor = torch.is_tensor


class CheckFailed(AssertionError):
    """A check failed; the message is shown to the learner as it is."""

    def __init__(self, message: str, diagnosis: str | None = None):
        super().__init__(message)
        self.message = message
        self.diagnosis = diagnosis


class GraderError(RuntimeError):
    """The check suite itself is broken (a bug of ours, never the learner's)."""


@dataclass(frozen=True)
class Mistake:
    key: str
    description: str
    lesson: str | None
    replace: tuple[tuple[str, str], ...]

    def apply(self, source: str) -> str:
        """The reference source with this mistake made.

        Matching is on code only: comments and docstrings are blanked out of the reference (and comments out
        of each `old` text) first, so rewording a comment never breaks a mistake, and an `old` text that only
        occurs in a comment or a docstring fails loudly, naming the mistake.
        """
        source = code_only(source)
        for old, new in self.replace:
            old = _strip_comments(old)
            if not old.strip() or old not in source:
                raise GraderError(f"mistake {self.key!r}: text {old!r} not found in the reference's code "
                                  "(comments and docstrings are not matched)")
            source = source.replace(old, new)
        return source


def _comment_spans(text: str) -> list[tuple[int, int]]:
    """(line index, column) of every comment that tokenizes in `text` (a fragment may stop early)."""
    import io
    import tokenize

    spans = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT:
                spans.append((tok.start[0] - 1, tok.start[1]))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass  # a fragment such as "torch.triu(" ends mid-statement: the comments before it still count
    return spans


def _strip_comments(text: str) -> str:
    """`text` with every comment (and the blanks before it) removed; lines are kept, so line numbers stay."""
    spans = _comment_spans(text)
    if not spans:
        return text
    lines = text.splitlines(keepends=True)
    for row, col in spans:
        line = lines[row]
        end = "\n" if line.endswith("\n") else ""
        lines[row] = line[:col].rstrip(" \t") + end
    return "".join(lines)


@functools.lru_cache(maxsize=32)
def code_only(source: str) -> str:
    """A module's source with comments removed and docstrings blanked (same line numbers), for matching."""
    import ast

    lines = _strip_comments(source).splitlines(keepends=True)
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return "".join(lines)
    docstrings = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                docstrings.append(first.value)
    for doc in sorted(docstrings, key=lambda d: (d.lineno, d.col_offset), reverse=True):
        first, last = doc.lineno - 1, doc.end_lineno - 1
        head, tail = lines[first][: doc.col_offset], lines[last][doc.end_col_offset:]
        blank = '"""' + "\n" * (last - first) + '"""'
        lines[first: last + 1] = [head + blank + tail] + [""] * (last - first)
    return "".join(lines)


@dataclass
class CheckSpec:
    name: str  # function name, check_*
    title: str
    lesson: str | None
    kind: str  # "compare" or "check"
    probe: Callable[[Any], Any] | None = None
    atol: float = 1e-5
    rtol: float = 1e-4


@dataclass
class Suite:
    """The checks of one exercise."""

    exercise_id: str
    _specs: dict[str, CheckSpec] = field(default_factory=dict, repr=False)
    mistakes: list[Mistake] = field(default_factory=list)
    # Checks made by a factory (tutor/checks/_common.py): named after the check_* global they are assigned to,
    # which is only known once the check module has finished importing.
    _unnamed: list[tuple[Callable, str, str | None, dict]] = field(default_factory=list, repr=False)
    # Filled by `prepare()` before the learner's module is imported.
    reference: types.ModuleType | None = None
    expected: dict[str, Any] = field(default_factory=dict)
    reference_errors: dict[str, str] = field(default_factory=dict)
    mistake_outputs: dict[str, dict[str, Any]] = field(default_factory=dict)

    # -- declaring -------------------------------------------------------------------------------------
    def mistake(self, key: str, description: str, *, lesson: str | None = None,
                replace: list[tuple[str, str]] | tuple = ()) -> Mistake:
        if any(m.key == key for m in self.mistakes):
            raise GraderError(f"duplicate mistake key {key!r}")
        m = Mistake(key, description, lesson, tuple(tuple(r) for r in replace))
        self.mistakes.append(m)
        return m

    def compare(self, title: str, *, lesson: str | None = None, atol: float = 1e-5, rtol: float = 1e-4):
        """Decorator for a probe whose result on the learner's module must match the reference's."""

        def decorate(probe):
            spec = CheckSpec(probe.__name__, title, lesson, "compare", probe, atol, rtol)
            self._register(spec)

            @functools.wraps(probe)
            def check(learner):
                self.run_compare(spec, learner)

            # pytest must see exactly one fixture argument, `learner`.
            check.__signature__ = _LEARNER_SIGNATURE
            del check.__wrapped__
            return check

        return decorate

    def check(self, title: str, *, lesson: str | None = None):
        """Decorator for a property check taking the fixtures `learner` and/or `reference`."""

        def decorate(fn):
            self._register(CheckSpec(fn.__name__, title, lesson, "check"))
            return fn

        return decorate

    def factory_check(self, fn: Callable, title: str, *, lesson: str | None = None) -> Callable:
        """Register a property check built by a factory; it takes the name of the check_* global it is
        assigned to in the check module (``check_gradients = std.gradients_reach_every_parameter(suite, …)``)."""
        self._unnamed.append((fn, title, lesson, _caller_namespace()))
        return fn

    def factory_compare(self, probe: Callable, title: str, *, lesson: str | None = None,
                        atol: float = 1e-5, rtol: float = 1e-4) -> Callable:
        """Like `factory_check`, for a compare-probe built by a factory."""
        namespace = _caller_namespace()
        spec = CheckSpec("", title, lesson, "compare", probe, atol, rtol)

        def check(learner):
            self.run_compare(spec, learner)

        check.__signature__ = _LEARNER_SIGNATURE
        check._tutor_spec = spec
        self._unnamed.append((check, title, lesson, namespace))
        return check

    @property
    def specs(self) -> dict[str, CheckSpec]:
        if self._unnamed:
            self._name_factory_checks()
        return self._specs

    def _name_factory_checks(self) -> None:
        pending, self._unnamed = self._unnamed, []
        for fn, title, lesson, namespace in pending:
            names = [k for k, v in namespace.items() if v is fn and k.startswith("check_")]
            if len(names) != 1:
                raise GraderError(f"{self.exercise_id}: a check made by a factory ({title!r}) must be assigned to "
                                  f"exactly one check_* name in its module (found {names or 'none'})")
            fn.__name__ = fn.__qualname__ = names[0]
            spec = getattr(fn, "_tutor_spec", None)
            if spec is not None:
                spec.name = names[0]
            else:
                spec = CheckSpec(names[0], title, lesson, "check")
            self._register(spec)

    def _register(self, spec: CheckSpec) -> None:
        if not spec.name.startswith("check_"):
            raise GraderError(f"{spec.name}: check functions must be named check_*")
        if spec.name in self._specs:
            raise GraderError(f"duplicate check {spec.name}")
        self._specs[spec.name] = spec

    # -- running (called by the grading child) --------------------------------------------------------
    def prepare(self, reference: types.ModuleType, mistake_modules: dict[str, types.ModuleType]) -> None:
        """Compute every probe's expected value and each mistake's value, before the learner is imported."""
        self.reference = reference
        for spec in self.specs.values():
            if spec.kind != "compare":
                continue
            try:
                self.expected[spec.name] = _detach(spec.probe(reference))
            except Exception as e:  # a broken probe is our bug, reported as such
                self.reference_errors[spec.name] = f"{type(e).__name__}: {e}"
        for key, module in mistake_modules.items():
            outs: dict[str, Any] = {}
            for spec in self.specs.values():
                if spec.kind == "compare" and spec.name in self.expected:
                    try:
                        outs[spec.name] = _detach(spec.probe(module))
                    except Exception:
                        outs[spec.name] = _RAISED
            self.mistake_outputs[key] = outs

    def run_compare(self, spec: CheckSpec, learner: types.ModuleType) -> None:
        if spec.name in self.reference_errors:
            raise GraderError(f"the reference fails this check: {self.reference_errors[spec.name]}")
        got = self._learner_output(spec, learner)
        expected = self.expected[spec.name]
        problem = compare_values(expected, got, spec.atol, spec.rtol)
        if problem is None:
            return
        for mistake in self.mistakes:
            out = self.mistake_outputs.get(mistake.key, {}).get(spec.name, _RAISED)
            if out is _RAISED or compare_values(out, got, spec.atol, spec.rtol) is not None:
                continue
            if self._contradicted(mistake, learner):
                continue
            raise CheckFailed(
                f"{problem}\n{KNOWN_MISTAKE} {mistake.description}",
                diagnosis=mistake.key,
            )
        raise CheckFailed(problem)

    def _learner_output(self, spec: CheckSpec, learner: types.ModuleType) -> Any:
        """The learner's result for a probe, computed once (other checks may ask for it too)."""
        cache = self.__dict__.setdefault("_learner_cache", {})
        if spec.name not in cache:
            try:
                cache[spec.name] = (True, _detach(spec.probe(learner)))
            except BaseException as e:  # re-raised below, and to any later asker
                cache[spec.name] = (False, e)
        ok, value = cache[spec.name]
        if not ok:
            raise value
        return value

    def _contradicted(self, mistake: Mistake, learner: types.ModuleType) -> bool:
        """True if the learner passes a check that this mistake fails: then it is not this mistake,
        even if one small case happens to give the same numbers."""
        for spec in self.specs.values():
            if spec.kind != "compare" or spec.name not in self.expected:
                continue
            out = self.mistake_outputs.get(mistake.key, {}).get(spec.name, _RAISED)
            mistake_fails = out is _RAISED or compare_values(self.expected[spec.name], out, spec.atol,
                                                             spec.rtol) is not None
            if not mistake_fails:
                continue
            try:
                got = self._learner_output(spec, learner)
            except BaseException:
                continue
            if compare_values(self.expected[spec.name], got, spec.atol, spec.rtol) is None:
                return True
        return False

    def lesson_for(self, check_name: str, diagnosis: str | None = None) -> str | None:
        if diagnosis:
            for m in self.mistakes:
                if m.key == diagnosis and m.lesson:
                    return m.lesson
        spec = self.specs.get(check_name)
        return spec.lesson if spec else None


def _caller_namespace() -> dict:
    """The globals of the check module that called a factory (the first frame outside the framework and the
    shared check libraries, tutor/checks/_*.py)."""
    import sys

    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if name != __name__ and not name.startswith("tutor.checks._"):
            return frame.f_globals
        frame = frame.f_back
    raise GraderError("a check factory must be called from a check module")


def _learner_signature():
    import inspect

    return inspect.Signature([inspect.Parameter("learner", inspect.Parameter.POSITIONAL_OR_KEYWORD)])


_LEARNER_SIGNATURE = _learner_signature()


class _Raised:
    def __repr__(self) -> str:
        return "<raised>"


_RAISED = _Raised()


def _detach(value: Any) -> Any:
    """A private copy of a probe's result, so later code cannot change it in place."""
    if _is_tensor(value):
        return value.detach().clone()
    if isinstance(value, (list, tuple)):
        return type(value)(_detach(v) for v in value) if not hasattr(value, "_fields") else value
    if isinstance(value, dict):
        return {k: _detach(v) for k, v in value.items()}
    return value


# -- comparing -------------------------------------------------------------------------------------------
def describe_tensor(t: torch.Tensor, max_items: int = 6) -> str:
    """'shape (2, 3), values [[0.1, ...], ...]' — short enough for a message."""
    t = t.detach()
    shape = tuple(t.shape)
    flat = t.flatten()
    if t.is_floating_point():
        items = [f"{v:.4f}" for v in flat[:max_items].tolist()]
    else:
        items = [str(v) for v in flat[:max_items].tolist()]
    more = ", …" if flat.numel() > max_items else ""
    return f"shape {shape}, dtype {str(t.dtype).replace('torch.', '')}, first values [{', '.join(items)}{more}]"


def compare_values(expected: Any, got: Any, atol: float = 1e-5, rtol: float = 1e-4, where: str = "") -> str | None:
    """None if `got` matches `expected`, else a message saying how it differs."""
    at = f" (at {where})" if where else ""
    if _is_tensor(expected):
        if not _is_tensor(got):
            return f"Expected a tensor{at}, got {type(got).__name__}: {_short(got)}."
        if tuple(got.shape) != tuple(expected.shape):
            return (f"Wrong shape{at}: expected {tuple(expected.shape)}, got {tuple(got.shape)}.\n"
                    f"  expected: {describe_tensor(expected)}\n  got:      {describe_tensor(got)}")
        if expected.is_floating_point() != got.is_floating_point() or (
            not expected.is_floating_point() and expected.dtype != got.dtype
        ):
            return f"Wrong dtype{at}: expected {expected.dtype}, got {got.dtype}."
        e, g = expected.to(torch.float64), got.detach().to(torch.float64).cpu()
        if e.numel() == 0:
            return None
        same_nan = torch.isnan(e) == torch.isnan(g)
        if expected.is_floating_point():
            close = _isclose(g, e, rtol=rtol, atol=atol, equal_nan=True)
        else:  # ids, counts, masks: exact (a float tolerance would let token id 50256 pass for 50257)
            close = g == e
        if bool(close.all()) and bool(same_nan.all()):
            return None
        nan_got = torch.isnan(g) & ~torch.isnan(e)
        if bool(nan_got.any()):
            pos = tuple(int(i) for i in torch.nonzero(nan_got)[0])
            return (f"Your output contains NaN{at} ({int(nan_got.sum())} of {e.numel()} entries, first at index "
                    f"{pos}); the reference has a number there. NaN usually comes from a softmax over a row "
                    f"that is all -inf, a division by zero, or the square root of a negative number.\n"
                    f"  expected: {describe_tensor(expected)}\n  got:      {describe_tensor(got)}")
        diff = (g - e).abs().nan_to_num(float("inf"))
        idx = int(diff.flatten().argmax())
        pos = _unravel(idx, tuple(e.shape))
        frac = 1.0 - float(close.to(torch.float64).mean())
        return (f"Values differ{at}: {frac:.0%} of the {e.numel()} entries are off; the largest difference is "
                f"{float(diff.flatten()[idx]):.4g} at index {pos} (expected {float(e.flatten()[idx]):.6g}, "
                f"got {float(g.flatten()[idx]):.6g}).\n"
                f"  expected: {describe_tensor(expected)}\n  got:      {describe_tensor(got)}")
    if isinstance(expected, bool) or expected is None:
        if got is expected or got == expected:
            return None
        return f"Expected {expected!r}{at}, got {_short(got)}."
    if isinstance(expected, (int, float)):
        if _is_tensor(got) and got.numel() == 1:
            got = got.item()
        if not isinstance(got, (int, float)) or isinstance(got, bool):
            return f"Expected a number{at} ({expected!r}), got {type(got).__name__}: {_short(got)}."
        if isinstance(expected, float) and math.isnan(expected):
            return None if math.isnan(got) else f"Expected nan{at}, got {got!r}."
        if isinstance(expected, int) and not isinstance(expected, bool):
            if got == expected:  # counts and ids are exact; 3.0 equals 3
                return None
        elif math.isclose(got, expected, rel_tol=rtol, abs_tol=atol):
            return None
        return f"Expected {expected!r}{at}, got {got!r}."
    if isinstance(expected, str):
        if got == expected:
            return None
        return f"Expected {expected!r}{at},\n     got {_short(got)}."
    if isinstance(expected, (list, tuple)):
        if not isinstance(got, (list, tuple)):
            return f"Expected a {type(expected).__name__}{at}, got {type(got).__name__}: {_short(got)}."
        if len(got) != len(expected):
            return (f"Expected {len(expected)} items{at}, got {len(got)}.\n"
                    f"  expected: {_short(expected)}\n  got:      {_short(got)}")
        for i, (e, g) in enumerate(zip(expected, got)):
            problem = compare_values(e, g, atol, rtol, f"{where}[{i}]")
            if problem:
                if not _is_tensor(e) and not isinstance(e, (list, tuple, dict)):
                    problem += f"\n  expected: {_short(expected)}\n  got:      {_short(got)}"
                return problem
        return None
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return f"Expected a dict{at}, got {type(got).__name__}: {_short(got)}."
        if set(got) != set(expected):
            missing = sorted(map(str, set(expected) - set(got)))[:5]
            extra = sorted(map(str, set(got) - set(expected)))[:5]
            return f"Wrong keys{at}: missing {missing}, unexpected {extra}."
        for k in expected:
            problem = compare_values(expected[k], got[k], atol, rtol, f"{where}[{k!r}]")
            if problem:
                return problem
        return None
    return None if got == expected else f"Expected {_short(expected)}{at}, got {_short(got)}."


def _unravel(flat_index: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The multi-index of a flat index (torch.unravel_index imports torch.fx on first use: slow)."""
    pos = []
    for size in reversed(shape):
        flat_index, i = divmod(flat_index, size)
        pos.append(i)
    return tuple(reversed(pos))


def _short(value: Any, limit: int = 160) -> str:
    text = describe_tensor(value) if _is_tensor(value) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- helpers for check modules -----------------------------------------------------------------------------
def copy_params(src: torch.nn.Module, dst: torch.nn.Module, names: list[str] | None = None) -> None:
    """Copy parameters (never buffers) from `src` to `dst` by name, failing clearly on any mismatch."""
    src_params = dict(src.named_parameters())
    dst_params = dict(dst.named_parameters())
    wanted = names if names is not None else list(src_params)
    missing = [n for n in wanted if n not in dst_params]
    if missing:
        have = ", ".join(sorted(dst_params)) or "none"
        raise CheckFailed(
            f"Your module has no parameter named {missing[0]!r} (parameters it has: {have}).\n"
            "The checks load weights by these names, so keep the attribute names the exercise states."
        )
    if names is None:
        extra = [n for n in dst_params if n not in src_params]
        if extra:
            raise CheckFailed(
                f"Your module has a parameter the reference does not have: {extra[0]!r}. "
                "Check which layers use a bias, and that you did not create extra layers."
            )
    with torch.no_grad():
        for n in wanted:
            s, d = src_params[n], dst_params[n]
            if tuple(s.shape) != tuple(d.shape):
                raise CheckFailed(
                    f"Parameter {n!r} has shape {tuple(d.shape)}, expected {tuple(s.shape)}."
                )
            d.copy_(s)


def randomize_norms(module: torch.nn.Module) -> torch.nn.Module:
    """Give every LayerNorm `scale` random values around 1 and every `shift` random values around 0.

    Fresh norms are the identity (scale 1, shift 0), so a skipped or swapped norm would go unnoticed.
    Draws from torch's global generator: seed before calling.
    """
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith(".scale") or name == "scale":
                p.copy_(1 + 0.5 * torch.randn_like(p))
            elif name.endswith(".shift") or name == "shift":
                p.copy_(0.5 * torch.randn_like(p))
    return module


def mistake_source(suite: Suite, key: str, reference_path: Path) -> str:
    """The source text of one declared mistake (used by the grader and by our tests)."""
    for m in suite.mistakes:
        if m.key == key:
            return m.apply(reference_path.read_text(encoding="utf-8"))
    raise KeyError(key)

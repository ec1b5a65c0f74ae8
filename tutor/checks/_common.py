"""Shared check factories and helpers for the hidden suites (``import tutor.checks._common as std``).

Every suite assigns the property checks it shares with others explicitly, so the list of checks stays
readable in the suite and pytest still collects each one by its ``check_*`` name::

    check_gradients = std.gradients_reach_every_parameter(
        suite, build=lambda impl: _block(impl, CFG, seed=8), inputs=lambda: torch.randn(2, 6, 8),
        lesson="#the-block-at-a-glance", hint="Every submodule must be used in forward.")

A factory takes what differs between exercises (how to build the learner's module with the reference's
parameters, which inputs to feed it, the lesson anchor, and a hint in the exercise's own words) and keeps
the message format the same everywhere: what was expected, what came back, the hint.

Files with a leading underscore are libraries, never exercises: the curriculum names each exercise's
check module, and the grading child's pytest only collects ``check_*.py``. Nothing here imports the
learner's code; it only calls what a check hands it.
"""

from __future__ import annotations

import os
import traceback
from typing import Any, Callable

import torch

from tutor.grading.framework import CheckFailed, Suite, copy_params, describe_tensor

# -- building modules with the reference's parameters -------------------------------------------------------


def with_reference_params(suite: Suite, impl, build: Callable, *, seed: int, init: Callable | None = None,
                          reseed: int | None = None) -> torch.nn.Module:
    """`build(impl)` with the parameters (never the buffers) of `build(reference)` seeded by `seed`.

    Args:
        build: makes the module from an implementation module, e.g. ``lambda m: m.LayerNorm(8)``.
        init: changes the reference's parameters in place before they are copied (wider weights, random
            LayerNorm scales, a probe's hand-set weights).
        reseed: seed torch's global generator again afterwards, so what the check draws next does not
            depend on how many random numbers the learner's constructor drew.
    """
    torch.manual_seed(seed)
    ref = build(suite.reference)
    if init is not None:
        with torch.no_grad():
            init(ref)
    m = build(impl)
    copy_params(ref, m)
    if reseed is not None:
        torch.manual_seed(reseed)
    return m


_SOURCES: dict[tuple, torch.nn.Module] = {}


def shared_source(suite: Suite, key: tuple, build: Callable, *, seed: int, init: Callable | None = None):
    """A reference module built once per grading run (by `key`) and shared, read only, by the reference, the
    known mistakes and the learner: for models whose construction is too slow to repeat for each of them."""
    full_key = (suite.exercise_id, key, seed)
    if full_key not in _SOURCES:
        torch.manual_seed(seed)
        ref = build(suite.reference)
        if init is not None:
            with torch.no_grad():
                init(ref)
        _SOURCES[full_key] = ref
    return _SOURCES[full_key]


def copy_from(src: torch.nn.Module, dst: torch.nn.Module, *, reseed: int | None = None) -> torch.nn.Module:
    """`dst` with `src`'s parameters copied in (see `shared_source`)."""
    copy_params(src, dst)
    if reseed is not None:
        torch.manual_seed(reseed)
    return dst


def seeded_randn(seed: int, *shape: int) -> torch.Tensor:
    """Standard normal values from their own generator (leaves torch's global generator alone)."""
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def as_args(inputs: Any) -> tuple:
    return inputs if isinstance(inputs, tuple) else (inputs,)


def run(m, inputs, *, grad: bool = False) -> torch.Tensor:
    """`m(*inputs)`, failing clearly when forward does not return a tensor."""
    with torch.set_grad_enabled(grad):
        out = m(*as_args(inputs))
    if not torch.is_tensor(out):
        raise CheckFailed(f"forward should return a tensor, got {type(out).__name__}.")
    return out


def same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal, counting NaN as equal to NaN (NaN outputs are reported by the checks that look for them)."""
    return tuple(a.shape) == tuple(b.shape) and bool(((a == b) | (a.isnan() & b.isnan())).all())


def largest_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().nan_to_num(0).max()) if a.numel() else 0.0


def learner_line(exc: BaseException, impl) -> str:
    """'\\n  at exercises/x.py line 12: code' for the deepest frame of `exc` in the learner's file, or ''."""
    file = getattr(impl, "__file__", None)
    if not file:
        return ""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if os.path.abspath(f.filename) == os.path.abspath(file)]
    if not frames:
        return ""
    f = frames[-1]
    return f"\n  at exercises/{os.path.basename(file)} line {f.lineno}: {(f.line or '').strip()}"


class Chain(torch.nn.Module):
    """Named modules applied one after another; parameter names read `LayerNorm.scale`, `FeedForward.…`."""

    def __init__(self, **modules: torch.nn.Module):
        super().__init__()
        for name, m in modules.items():
            self.add_module(name, m)

    def forward(self, x):
        for m in self.children():
            x = m(x)
        return x


# -- property checks every suite of a module shares -----------------------------------------------------------


def gradients_reach_every_parameter(suite: Suite, *, build: Callable, inputs: Callable, lesson: str | None,
                                    hint: str, loss: Callable | None = None,
                                    title: str = "Gradients reach every parameter",
                                    may_be_zero: tuple[str, ...] = ()) -> Callable:
    """A check: after one backward pass every parameter of `build(learner)` has a non-zero gradient.

    Args:
        build: learner module -> the module to train (or a dict label -> module, each checked alone).
        inputs: () -> the forward arguments (a tensor or a tuple).
        loss: output -> a scalar; by default the output weighted by fixed random numbers, so no sum can
            cancel a gradient by symmetry.
        may_be_zero: parameters whose gradient is zero in every correct answer (a key bias under a
            softmax): they must exist and be part of the graph, nothing more.
    """

    def check(learner):
        built = build(learner)
        for label, m in (built.items() if isinstance(built, dict) else [(None, built)]):
            prefix = f"{label}: " if label else ""
            out = m(*as_args(inputs()))
            if not torch.is_tensor(out) or not out.requires_grad:
                raise CheckFailed(f"{prefix}The output does not depend on any parameter (no gradient can flow). "
                                  "Do not use torch.no_grad(), .detach() or .data in forward.")
            value = loss(out) if loss else (out * seeded_randn(13, *out.shape)).sum()
            value.backward()
            missing = [n for n, p in m.named_parameters()
                       if p.grad is None or (n not in may_be_zero and not bool((p.grad != 0).any()))]
            if missing:
                others = f" (nor do {', '.join(missing[1:6])}{' …' if len(missing) > 6 else ''})" \
                    if len(missing) > 1 else ""
                raise CheckFailed(f"{prefix}The parameter {missing[0]} gets no gradient{others}, so training would "
                                  f"never change it. {hint}")

    return suite.factory_check(check, title, lesson=lesson)


def batch_independence(suite: Suite, *, build: Callable, inputs: Callable, lesson: str | None, hint: str,
                       title: str = "The sequences of a batch do not influence each other",
                       atol: float = 1e-5, rtol: float = 1e-4) -> Callable:
    """A check: each sequence of a batch gets the same output in the batch as in a batch of its own.

    `build(learner)` is run in eval() mode without gradients; `inputs()` is one batch (first axis).
    """

    def check(learner):
        m = build(learner).eval()
        x = inputs()
        together = run(m, x)
        n = x.shape[0]
        for i in range(n):
            alone, expected = run(m, x[i: i + 1]), together[i: i + 1]
            if tuple(alone.shape) != tuple(expected.shape):
                raise CheckFailed(f"A batch of 1 gave an output of shape {tuple(alone.shape)}; in a batch of {n}, "
                                  f"the same sequence's output has shape {tuple(expected.shape)}.")
            if not torch.allclose(alone, expected, atol=atol, rtol=rtol, equal_nan=True):
                raise CheckFailed(
                    f"Sequence {i} of a batch of {n} gets a different output than the same sequence in a batch of "
                    f"its own (largest difference {largest_difference(alone, expected):.4g}). {hint}\n"
                    f"  alone:    {describe_tensor(alone[0])}\n  in batch: {describe_tensor(expected[0])}"
                )

    return suite.factory_check(check, title, lesson=lesson)


def eval_is_deterministic(suite: Suite, *, build: Callable, inputs: Callable, lesson: str | None, hint: str,
                          title: str = "eval() turns dropout off: two calls give the same output") -> Callable:
    """A check: `build(learner)` (with dropout > 0) gives the same output twice in eval() mode."""

    def check(learner):
        m = build(learner).eval()
        x = inputs()
        a, b = run(m, x), run(m, x)
        if not same(a, b):
            raise CheckFailed(
                "In eval() mode two calls on the same input gave different outputs (largest difference "
                f"{largest_difference(a, b):.4g}). {hint}"
            )

    return suite.factory_check(check, title, lesson=lesson)


def causality(suite: Suite, *, build: Callable, inputs: Callable, vary: Callable, lesson: str | None, hint: str,
              title: str = "Changing later tokens never changes earlier outputs (causality)",
              before: Callable | None = None) -> Callable:
    """A check: for every t, changing the tokens after position t leaves outputs 0..t unchanged.

    Args:
        inputs: () -> a batch (b, T, …) with tokens on axis 1.
        vary: (x, t) -> a copy of x with the tokens after position t replaced.
        before: called with the first output (say, to report NaN first, with its own message).
    """

    def check(learner):
        m = build(learner).eval()
        x = inputs()
        out = run(m, x)
        if before is not None:
            before(out)
        for t in range(x.shape[1] - 1):
            out2 = run(m, vary(x, t))
            if tuple(out2.shape) != tuple(out.shape):
                raise CheckFailed(f"The output's shape changed from {tuple(out.shape)} to {tuple(out2.shape)} "
                                  "when only the values of later tokens changed.")
            diff = (out2[:, : t + 1] - out[:, : t + 1]).abs().flatten(2).amax(dim=(0, 2))  # per position 0..t
            bad = torch.nonzero(~(diff <= 1e-5))
            if len(bad):
                p = int(bad[0])
                raise CheckFailed(
                    f"Changing the tokens after position {t} changed the output at position {p} "
                    f"(by up to {float(diff[p]):.4g}). The output at position {p} may depend on tokens 0..{p} "
                    f"only: {hint}"
                )

    return suite.factory_check(check, title, lesson=lesson)


def vary_normal(seed: int = 200) -> Callable:
    """For `causality`: replace the later tokens of a float batch by other random vectors."""

    def vary(x, t):
        x2 = x.clone()
        x2[:, t + 1:] = seeded_randn(seed + t, *x2[:, t + 1:].shape)
        return x2

    return vary


def vary_ids(vocab_size: int) -> Callable:
    """For `causality`: replace the later token ids by other ids (each one + 1, modulo the vocabulary)."""

    def vary(ids, t):
        ids2 = ids.clone()
        ids2[:, t + 1:] = (ids[:, t + 1:] + 1) % vocab_size
        return ids2

    return vary


def dropout_problem(base: torch.Tensor, got: torch.Tensor, p: float, *, noun: str, none_hint: str,
                    low: float = 0.38, high: float = 0.62, nouns: str | None = None) -> str | None:
    """None if `got` is `base` after dropout with probability `p` (about a fraction p of the non-zero entries
    zeroed, the rest scaled by 1/(1-p)); else what a learner needs to read. `noun` names one entry (`nouns`
    several, by default noun + "s")."""
    nouns = nouns or noun + "s"
    visible = base != 0
    kept, before = got[visible], base[visible]
    if kept.numel() == 0:
        return None
    dropped = float((kept == 0).float().mean())
    if dropped == 0:
        return f"With dropout={p} in train() mode, no {noun} was dropped. {none_hint}"
    if not low <= dropped <= high:
        return (f"With dropout={p} in train() mode, {dropped:.0%} of the non-zero {nouns} were dropped; "
                f"expected about {p:.0%}. Use the dropout probability the module is given.")
    nz = kept != 0
    if not torch.allclose(kept[nz], before[nz] / (1 - p), rtol=1e-4, atol=1e-6):
        ratio = float((kept[nz] / before[nz]).median())
        return (f"The {nouns} that survive dropout should be multiplied by 1/(1-p) = {1 / (1 - p):g}; yours "
                f"are multiplied by about {ratio:.3g}. nn.Dropout does this scaling for you.")
    return None


def input_of(module: torch.nn.Module, submodule_name: str, call: Callable) -> torch.Tensor | None:
    """What `call()` feeds into the named submodule (a parameter name the curriculum states), via a hook."""
    sub = dict(module.named_modules()).get(submodule_name)
    if sub is None:
        raise CheckFailed(f"Your model has no submodule named {submodule_name!r}; keep the names the exercise states.")
    seen: list[torch.Tensor] = []
    handle = sub.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().clone()))
    try:
        call()
    finally:
        handle.remove()
    return seen[-1] if seen else None

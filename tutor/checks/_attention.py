"""What the causal attention suites share (causal_attention, multihead_attention): builders, the causal
mask's expected weights, and property checks on attention weights made visible by a probe.

A suite supplies `probe(impl, dropout)`, a module whose output shows its attention weights, and
`probe_weights(module, batch)` -> (weights, copies), two (batch, heads, T, T) tensors that are both the
attention weights after any dropout (heads = 1 for a single head). The checks here only read those.
"""

from __future__ import annotations

from typing import Callable

import torch

import tutor.checks._common as std
from tutor.grading.framework import CheckFailed, Suite, describe_tensor

PROBE_TOKENS = 6


def make(suite: Suite, impl, cls: str, *, seed: int, **kwargs) -> torch.nn.Module:
    """`impl.<cls>(**kwargs)` with the reference's parameters for this seed (never the mask buffer)."""
    return std.with_reference_params(suite, impl, lambda m: getattr(m, cls)(**kwargs), seed=seed)


def inputs(b: int, num_tokens: int, d_in: int, seed: int) -> torch.Tensor:
    return std.seeded_randn(seed, b, num_tokens, d_in)


def require_finite(out, what: str) -> None:
    if torch.is_tensor(out) and out.is_floating_point() and not torch.isfinite(out).all():
        bad = torch.nonzero(~torch.isfinite(out))[0].tolist()
        raise CheckFailed(
            f"{what}: the output contains NaN or inf (first at index {tuple(bad)}).\n"
            "A query whose keys are all masked gets softmax(-inf, …, -inf) = NaN: the mask must leave the "
            "diagonal visible (torch.triu(..., diagonal=1)), and must hide the future, not the past."
        )


def future_mask() -> torch.Tensor:
    """(T, T) bool, True where key j comes after query i: the weights that must be 0."""
    return torch.triu(torch.ones(PROBE_TOKENS, PROBE_TOKENS, dtype=torch.bool), diagonal=1)


def uniform_weights() -> torch.Tensor:
    """(T, T): the causal weights when every score is equal, 1/(i+1) on tokens 0..i of row i."""
    return torch.tril(torch.ones(PROBE_TOKENS, PROBE_TOKENS)) / torch.arange(1, PROBE_TOKENS + 1).unsqueeze(1)


# -- checks -------------------------------------------------------------------------------------------------
def mask_is_buffer(suite: Suite, *, build: Callable, lesson: str | None,
                   title: str = "mask is registered as a buffer") -> Callable:
    def check(learner):
        m = build(learner)
        if "mask" in dict(m.named_buffers()):
            return
        if torch.is_tensor(getattr(m, "mask", None)):
            raise CheckFailed(
                "self.mask is a plain tensor attribute. Register it with self.register_buffer(\"mask\", ...) so "
                "that it moves with the module on .to(device) (a GPU run would fail otherwise)."
            )
        raise CheckFailed("The module has no buffer named mask. Build the causal mask in __init__ and register it "
                          "with self.register_buffer(\"mask\", ...).")

    return suite.factory_check(check, title, lesson=lesson)


def shorter_inputs(suite: Suite, *, build: Callable, d_in: int, lesson: str | None, context_length: int = 8,
                   seed: int = 105, title: str = "Inputs shorter than context_length work") -> Callable:
    """A compare-check: outputs at full length, 5 tokens and 1 token; an error on the shorter ones names the
    unsliced mask."""

    def probe(impl):
        m = build(impl, context_length)
        x = inputs(2, context_length, d_in, seed=seed)
        outs = [std.run(m, x)]  # errors at full length are reported as they are
        for n in (5, 1):
            try:
                outs.append(std.run(m, x[:, :n]))
            except NotImplementedError:
                raise
            except (RuntimeError, IndexError, ValueError) as e:
                raise CheckFailed(
                    f"Your module works on {context_length} tokens (= context_length) but fails on an input of "
                    f"{n} tokens with {type(e).__name__}: {e}{std.learner_line(e, impl)}\n"
                    "The mask is built for context_length tokens; slice it to the number of tokens of the input, "
                    "mask[:num_tokens, :num_tokens], so that it fits shorter sequences too.",
                    diagnosis="mask-not-sliced",
                ) from e
        return outs

    return suite.factory_compare(probe, title, lesson=lesson)


def masked_weights(suite: Suite, *, probe: Callable, probe_weights: Callable, lesson: str | None, heads: int,
                   title: str) -> Callable:
    """A check: masked weights are exactly 0, rows sum to 1, equal scores spread attention evenly."""
    in_head = (lambda h: f"In head {h}, t") if heads > 1 else (lambda h: "T")
    every = " in every head" if heads > 1 else ""

    def check(learner):
        w, _ = probe_weights(probe(learner, dropout=0.0), 2)  # (b, H, T, T)
        require_finite(w, "Attention weights")
        leaks = torch.nonzero((w != 0) & future_mask())
        if len(leaks):
            s, h, i, j = (int(v) for v in leaks[0])
            split = " (and split the heads with view + transpose, so that rows are tokens)" if heads > 1 else ""
            raise CheckFailed(
                f"{in_head(h)}oken {i} gives attention weight {float(w[s, h, i, j]):.4g} to the later token {j}; "
                f"masked weights must be exactly 0. Fill the scores above the diagonal with -inf before the "
                f"softmax{split}.\n"
                f"  weights{f' of head {h}' if heads > 1 else f' of sequence {s}'} (all scores equal): "
                f"{describe_tensor(w[s, h], max_items=12)}"
            )
        sums = w.sum(dim=-1)[0]  # (H, T)
        if not torch.allclose(sums, torch.ones_like(sums), atol=1e-5):
            h = int(torch.nonzero(~torch.isclose(sums, torch.ones_like(sums), atol=1e-5))[0][0])
            where = f"In head {h} the rows" if heads > 1 else "The rows"
            raise CheckFailed(
                f"{where} of attention weights sum to {[round(v, 4) for v in sums[h].tolist()]} instead of 1. "
                "Either the softmax runs over the wrong axis (it must be the last one, the keys), or the future "
                "is zeroed after the softmax without renormalising."
            )
        if not torch.allclose(w, uniform_weights().expand_as(w), atol=1e-5):
            raise CheckFailed(
                "With all scores equal, token i should spread its attention evenly over tokens 0..i "
                f"(1/(i+1) each){every}.\n  expected: {describe_tensor(uniform_weights(), max_items=12)}\n"
                f"  got:      {describe_tensor(w[0, 0], max_items=12)}"
            )

    return suite.factory_check(check, title, lesson=lesson)


def dropout_on_weights(suite: Suite, *, probe: Callable, probe_weights: Callable, lesson: str | None, batch: int,
                       seed: int, title: str, elsewhere: str) -> Callable:
    """A check: in train() mode dropout zeroes about half the attention weights and scales up the rest.

    `elsewhere` lists where else a learner may have put the dropout (for the message)."""
    p = 0.5

    def check(learner):
        m = probe(learner, dropout=p)
        m.eval()
        base, _ = probe_weights(m, batch)                      # the weights without dropout
        deterministic = std.same(base, probe_weights(m, batch)[0])
        m.train()
        torch.manual_seed(seed)
        w, copies = probe_weights(m, batch)
        require_finite(w, "Dropout")
        if not torch.equal(w, copies):
            raise CheckFailed(
                f"Dropout seems to act on {elsewhere}, not on the attention weights: two output features that mix "
                "the same values with the same weights came out different. Apply the dropout to attn_weights, "
                "before multiplying by the values."
            )
        if not deterministic:
            return  # dropout is active in eval(): the eval() check reports it; no baseline to compare with
        problem = std.dropout_problem(
            base, w, p, noun="attention weight",
            none_hint="Apply the dropout (built with the probability the module is given) to the attention "
                      "weights after the softmax. Dropout on the scores, before the softmax, does not zero any "
                      "weight.")
        if problem:
            raise CheckFailed(problem)

    return suite.factory_check(check, title, lesson=lesson)

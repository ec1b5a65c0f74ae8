"""Hidden checks for the multihead_attention exercise (lessons/06-multihead-attention.md).

Compare-checks copy the reference's parameters (`W_query`, `W_key`, `W_value`, `out_proj`; never the
`mask` buffer) into the learner's module and compare outputs for several numbers of heads. Property checks
look at what every correct answer does: causality, exactly-zero masked weights in every head, dropout off
in eval() and plausible in train(), batch independence, gradients. The "probe" makes each head's attention
weights visible in the output: with zero query/key weights every score is 0; the input is the identity
(token j = one-hot e_j); each head's value slice maps e_j to [e_j, e_j]; and out_proj is the identity. So
output features h*2T .. h*2T+2T-1 of token i are head h's weights of token i, twice.
"""

import os
import traceback

import torch

from tutor.grading.framework import CheckFailed, Suite, copy_params, describe_tensor

suite = Suite("multihead_attention")


# -- known mistakes (text variants of solutions/multihead_attention.py) -------------------------------------
_SPLIT = "view(b, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)"

suite.mistake(
    "no-scaling",
    "The attention scores are not divided by √head_dim before the softmax.",
    lesson="#attention-in-every-head-at-once",
    replace=[("attn_scores / d_k**0.5", "attn_scores")],
)
suite.mistake(
    "scaled-by-d_out",
    "The scores are divided by √d_out; each head's scores are dot products of head_dim numbers, so the "
    "scale is √head_dim (d_out // num_heads).",
    lesson="#attention-in-every-head-at-once",
    replace=[("d_k = keys.shape[-1]", "d_k = self.d_out")],
)
suite.mistake(
    "softmax-over-queries",
    "The softmax runs over the query axis (dim=-2); it must run over the keys, the last axis (dim=-1).",
    lesson="#attention-in-every-head-at-once",
    replace=[("dim=-1)", "dim=-2)")],
)
suite.mistake(
    "split-without-transpose",
    "The heads are split with view(b, num_heads, num_tokens, head_dim) and no transpose: that regroups "
    "numbers in memory order and mixes tokens with heads. View as (b, num_tokens, num_heads, head_dim), "
    "then transpose(1, 2).",
    lesson="#splitting-heads",
    replace=[(_SPLIT, "view(b, self.num_heads, num_tokens, self.head_dim)")],
)
suite.mistake(
    "merge-without-transpose",
    "The heads are merged without transposing back: (b, num_heads, num_tokens, head_dim) must become "
    "(b, num_tokens, num_heads, head_dim) with transpose(1, 2) before the view to (b, num_tokens, d_out).",
    lesson="#merging-heads",
    replace=[("context.transpose(1, 2).contiguous().view(", "context.contiguous().view(")],
)
suite.mistake(
    "no-out-proj",
    "The output projection out_proj is not applied to the merged heads.",
    lesson="#the-output-projection",
    replace=[("return self.out_proj(context)", "return context")],
)
suite.mistake(
    "mask-hides-diagonal",
    "The mask also hides the diagonal (diagonal=0 instead of 1): a token cannot attend to itself, and the "
    "first token has nothing left to attend to, which gives NaN.",
    lesson="#attention-in-every-head-at-once",
    replace=[("diagonal=1", "diagonal=0")],
)
suite.mistake(
    "mask-hides-past",
    "The mask hides the past instead of the future (lower triangle instead of upper): each token sees "
    "itself and the tokens after it.",
    lesson="#attention-in-every-head-at-once",
    replace=[("torch.triu(", "torch.tril("), ("diagonal=1", "diagonal=-1")],
)
suite.mistake(
    "mask-not-sliced",
    "The mask is not sliced to the current number of tokens: it only fits inputs of exactly "
    "context_length tokens. Use mask[:num_tokens, :num_tokens].",
    lesson="#attention-in-every-head-at-once",
    replace=[("self.mask[:num_tokens, :num_tokens]", "self.mask")],
)
suite.mistake(
    "mask-after-softmax",
    "The future is zeroed after the softmax without renormalising, so the rows of attention weights no "
    "longer sum to 1. Set the scores to -inf before the softmax instead.",
    lesson="#attention-in-every-head-at-once",
    replace=[
        ('        attn_scores = attn_scores.masked_fill(future, float("-inf"))\n', ""),
        ("        attn_weights = self.dropout(attn_weights)",
         "        attn_weights = attn_weights.masked_fill(future, 0.0)\n        attn_weights = self.dropout(attn_weights)"),
    ],
)


# -- helpers -------------------------------------------------------------------------------------------------
def make(impl, d_in, d_out, context_length, num_heads, dropout=0.0, qkv_bias=False, seed=0):
    """The learner's (or a variant's) module with the reference's parameters for this seed."""
    kwargs = dict(d_in=d_in, d_out=d_out, context_length=context_length, dropout=dropout,
                  num_heads=num_heads, qkv_bias=qkv_bias)
    torch.manual_seed(seed)
    ref = suite.reference.MultiHeadAttention(**kwargs)
    m = impl.MultiHeadAttention(**kwargs)
    copy_params(ref, m)
    return m


def inputs(b, num_tokens, d_in, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, num_tokens, d_in, generator=g)


def call(m, x):
    with torch.no_grad():
        out = m(x)
    if not torch.is_tensor(out):
        raise CheckFailed(f"forward should return a tensor, got {type(out).__name__}.")
    return out


def same(a, b):
    """Equal, counting NaN as equal to NaN (NaN outputs are reported by the checks that look for them)."""
    return tuple(a.shape) == tuple(b.shape) and bool(((a == b) | (a.isnan() & b.isnan())).all())


def require_finite(out, what):
    if out.is_floating_point() and not torch.isfinite(out).all():
        bad = torch.nonzero(~torch.isfinite(out))[0].tolist()
        raise CheckFailed(
            f"{what}: the output contains NaN or inf (first at index {tuple(bad)}).\n"
            "A query whose keys are all masked gets softmax(-inf, …, -inf) = NaN: the mask must leave the "
            "diagonal visible (torch.triu(..., diagonal=1)), and must hide the future, not the past."
        )


def learner_line(exc, impl):
    file = getattr(impl, "__file__", None)
    if not file:
        return ""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if os.path.abspath(f.filename) == os.path.abspath(file)]
    if not frames:
        return ""
    f = frames[-1]
    return f"\n  at exercises/{os.path.basename(file)} line {f.lineno}: {(f.line or '').strip()}"


PROBE_TOKENS, PROBE_HEADS = 6, 2
def future_mask():
    """(T, T) bool, True where key j comes after query i: the weights that must be 0."""
    return torch.triu(torch.ones(PROBE_TOKENS, PROBE_TOKENS, dtype=torch.bool), diagonal=1)


def uniform_weights():
    """(T, T): the causal weights when every score is equal, 1/(i+1) on tokens 0..i of row i."""
    return torch.tril(torch.ones(PROBE_TOKENS, PROBE_TOKENS)) / torch.arange(1, PROBE_TOKENS + 1).unsqueeze(1)


def probe(impl, dropout):
    """A module whose output shows each head's attention weights (see the module docstring)."""
    T, H = PROBE_TOKENS, PROBE_HEADS
    d_out = H * 2 * T
    ref = suite.reference.MultiHeadAttention(d_in=T, d_out=d_out, context_length=T, dropout=dropout, num_heads=H)
    with torch.no_grad():
        ref.W_query.weight.zero_()
        ref.W_key.weight.zero_()
        ref.W_value.weight.copy_(torch.eye(T).repeat(2 * H, 1))  # (d_out, T): every head slice is [I; I]
        ref.out_proj.weight.copy_(torch.eye(d_out))
        ref.out_proj.bias.zero_()
    m = impl.MultiHeadAttention(d_in=T, d_out=d_out, context_length=T, dropout=dropout, num_heads=H)
    copy_params(ref, m)
    return m


def probe_weights(m, batch):
    """(weights, copies): two (batch, num_heads, T, T) tensors, both the heads' attention weights."""
    T, H = PROBE_TOKENS, PROBE_HEADS
    x = torch.eye(T).expand(batch, T, T).clone()
    out = call(m, x)
    if tuple(out.shape) != (batch, T, H * 2 * T):
        raise CheckFailed(f"Expected an output of shape {(batch, T, H * 2 * T)}, got {tuple(out.shape)}.")
    w = out.view(batch, T, H, 2, T).permute(0, 2, 3, 1, 4)  # (batch, H, 2, T, T)
    return w[:, :, 0], w[:, :, 1]


# -- compare-checks --------------------------------------------------------------------------------------------
@suite.compare("MultiHeadAttention returns the right outputs (2 heads)", lesson="#the-shapes-line-by-line")
def check_outputs(impl):
    m = make(impl, d_in=3, d_out=4, context_length=6, num_heads=2, seed=0)
    return call(m, inputs(2, 6, 3, seed=100))


@suite.compare("…and for 1, 3, 4 and 8 heads, other sizes, seeds and batch sizes (1 and 3)",
               lesson="#splitting-heads")
def check_other_shapes(impl):
    outs = []
    for b, n, d_in, d_out, heads, seed in [(1, 5, 4, 6, 3, 1), (3, 7, 5, 8, 4, 2), (2, 4, 3, 4, 1, 3),
                                           (2, 6, 4, 8, 8, 4)]:
        m = make(impl, d_in=d_in, d_out=d_out, context_length=n, num_heads=heads, seed=seed)
        outs.append(call(m, inputs(b, n, d_in, seed=100 + seed)))
    return outs


@suite.compare("qkv_bias=True adds a bias to the query, key and value projections", lesson="#projecting-once")
def check_qkv_bias(impl):
    m = make(impl, d_in=4, d_out=6, context_length=5, num_heads=2, qkv_bias=True, seed=5)
    return call(m, inputs(2, 5, 4, seed=105))


@suite.compare("Inputs shorter than context_length work", lesson="#attention-in-every-head-at-once")
def check_shorter_inputs(impl):
    context_length = 8
    m = make(impl, d_in=4, d_out=6, context_length=context_length, num_heads=3, seed=6)
    x = inputs(2, context_length, 4, seed=106)
    outs = [call(m, x)]  # errors at full length are reported as they are
    for n in (5, 1):
        try:
            outs.append(call(m, x[:, :n]))
        except NotImplementedError:
            raise
        except (RuntimeError, IndexError, ValueError) as e:
            raise CheckFailed(
                f"Your module works on {context_length} tokens (= context_length) but fails on an input of "
                f"{n} tokens with {type(e).__name__}: {e}{learner_line(e, impl)}\n"
                "The mask is built for context_length tokens; slice it to the number of tokens of the input, "
                "mask[:num_tokens, :num_tokens], so that it fits shorter sequences too.",
                diagnosis="mask-not-sliced",
            ) from e
    return outs


@suite.compare("In eval() mode dropout is off and the outputs match", lesson="#attention-in-every-head-at-once")
def check_eval_mode(impl):
    m = make(impl, d_in=3, d_out=6, context_length=6, num_heads=3, dropout=0.5, seed=7)
    m.eval()
    return call(m, inputs(2, 6, 3, seed=107))


# -- property checks -------------------------------------------------------------------------------------------
@suite.check("mask is registered as a buffer", lesson="#attention-in-every-head-at-once")
def check_mask_is_buffer(learner):
    m = learner.MultiHeadAttention(d_in=3, d_out=4, context_length=6, dropout=0.0, num_heads=2)
    if "mask" in dict(m.named_buffers()):
        return
    if torch.is_tensor(getattr(m, "mask", None)):
        raise CheckFailed(
            "self.mask is a plain tensor attribute. Register it with self.register_buffer(\"mask\", ...) so "
            "that it moves with the module on .to(device) (a GPU run would fail otherwise)."
        )
    raise CheckFailed("The module has no buffer named mask. Build the causal mask in __init__ and register it "
                      "with self.register_buffer(\"mask\", ...).")


@suite.check("Changing later tokens never changes earlier outputs (causality)",
             lesson="#attention-in-every-head-at-once")
def check_causality(learner):
    T = 6
    m = make(learner, d_in=3, d_out=6, context_length=T, num_heads=2, seed=8)
    x = inputs(2, T, 3, seed=108)
    out = call(m, x)
    require_finite(out, "Causality")
    for t in range(T - 1):
        x2 = x.clone()
        x2[:, t + 1:] = inputs(2, T - t - 1, 3, seed=200 + t)
        out2 = call(m, x2)
        diff = (out2[:, : t + 1] - out[:, : t + 1]).abs().amax(dim=(0, 2))  # per position 0..t
        bad = torch.nonzero(~(diff <= 1e-5))
        if len(bad):
            p = int(bad[0])
            raise CheckFailed(
                f"Changing the tokens after position {t} changed the output at position {p} "
                f"(by up to {float(diff[p]):.4g}). The output at position {p} may depend on tokens 0..{p} only: "
                "in every head the mask must hide every later key (scores set to -inf above the diagonal), and "
                "splitting or merging the heads must not mix tokens (view, then transpose)."
            )


@suite.check("In every head, masked attention weights are exactly 0 and each row sums to 1",
             lesson="#attention-in-every-head-at-once")
def check_masked_weights(learner):
    m = probe(learner, dropout=0.0)
    w, _ = probe_weights(m, batch=2)
    require_finite(w, "Attention weights")
    leaks = torch.nonzero((w != 0) & future_mask())
    if len(leaks):
        s, h, i, j = (int(v) for v in leaks[0])
        raise CheckFailed(
            f"In head {h}, token {i} gives attention weight {float(w[s, h, i, j]):.4g} to the later token {j}; "
            "masked weights must be exactly 0. Fill the scores above the diagonal with -inf before the softmax "
            "(and split the heads with view + transpose, so that rows are tokens).\n"
            f"  weights of head {h} (all scores equal): {describe_tensor(w[s, h], max_items=12)}"
        )
    sums = w.sum(dim=-1)[0]  # (H, T)
    if not torch.allclose(sums, torch.ones_like(sums), atol=1e-5):
        h = int(torch.nonzero(~torch.isclose(sums, torch.ones_like(sums), atol=1e-5))[0][0])
        raise CheckFailed(
            f"In head {h} the rows of attention weights sum to {[round(v, 4) for v in sums[h].tolist()]} instead "
            "of 1. Either the softmax runs over the wrong axis (it must be the last one, the keys), or the "
            "future is zeroed after the softmax without renormalising."
        )
    if not torch.allclose(w, uniform_weights().expand_as(w), atol=1e-5):
        raise CheckFailed(
            "With all scores equal, token i should spread its attention evenly over tokens 0..i "
            f"(1/(i+1) each) in every head.\n  expected: {describe_tensor(uniform_weights(), max_items=12)}\n"
            f"  got:      {describe_tensor(w[0, 0], max_items=12)}"
        )


@suite.check("eval() turns dropout off: two calls give the same output", lesson="#attention-in-every-head-at-once")
def check_eval_deterministic(learner):
    m = make(learner, d_in=3, d_out=6, context_length=6, num_heads=3, dropout=0.5, seed=9)
    m.eval()
    x = inputs(2, 6, 3, seed=109)
    a, b = call(m, x), call(m, x)
    if not same(a, b):
        raise CheckFailed(
            "In eval() mode two calls on the same input gave different outputs (largest difference "
            f"{float((a - b).abs().nan_to_num(0).max()):.4g}). Dropout must be off in eval(): use nn.Dropout, "
            "or pass training=self.training to F.dropout."
        )


@suite.check("train() with dropout=0.5 drops about half of each head's attention weights and scales up the rest",
             lesson="#attention-in-every-head-at-once")
def check_dropout_in_training(learner):
    p, batch = 0.5, 16
    m = probe(learner, dropout=p)
    m.eval()
    base, _ = probe_weights(m, batch)                      # the weights without dropout
    deterministic = same(base, probe_weights(m, batch)[0])
    m.train()
    torch.manual_seed(10)
    w, copies = probe_weights(m, batch)
    require_finite(w, "Dropout")
    if not torch.equal(w, copies):
        raise CheckFailed(
            "Dropout seems to act on the context vectors, the values or the output, not on the attention "
            "weights: two output features that mix the same values with the same weights came out different. "
            "Apply the dropout to attn_weights, before multiplying by the values."
        )
    if not deterministic:
        return  # dropout is active in eval(): check_eval_deterministic reports it; no baseline to compare with
    visible = base != 0                                     # every weight dropout could drop
    kept, before = w[visible], base[visible]
    dropped = float((kept == 0).float().mean())
    if dropped == 0:
        raise CheckFailed(
            f"With dropout={p} in train() mode, no attention weight was dropped. Apply the dropout (built with "
            "the probability the module is given) to the attention weights after the softmax. Dropout on the "
            "scores, before the softmax, does not zero any weight."
        )
    if not 0.38 <= dropped <= 0.62:
        raise CheckFailed(
            f"With dropout={p} in train() mode, {dropped:.0%} of the non-zero attention weights were dropped; "
            f"expected about {p:.0%}. Use the dropout probability the module is given."
        )
    nz = kept != 0
    if not torch.allclose(kept[nz], before[nz] / (1 - p), rtol=1e-4, atol=1e-6):
        ratio = float((kept[nz] / before[nz]).median())
        raise CheckFailed(
            f"The attention weights that survive dropout should be multiplied by 1/(1-p) = {1 / (1 - p):g}; yours "
            f"are multiplied by about {ratio:.3g}. nn.Dropout does this scaling for you."
        )


@suite.check("The sequences of a batch do not influence each other", lesson="#merging-heads")
def check_batch_independence(learner):
    m = make(learner, d_in=3, d_out=6, context_length=5, num_heads=2, seed=11)
    x = inputs(3, 5, 3, seed=111)
    together = call(m, x)
    for i in range(3):
        alone, expected = call(m, x[i: i + 1]), together[i: i + 1]
        if tuple(alone.shape) != tuple(expected.shape):
            raise CheckFailed(f"A batch of 1 gave an output of shape {tuple(alone.shape)}, expected "
                              f"{tuple(expected.shape)}.")
        if not torch.allclose(alone, expected, atol=1e-5, rtol=1e-4, equal_nan=True):
            diff = (alone - expected).abs().nan_to_num(0).max()
            raise CheckFailed(
                f"Sequence {i} of a batch of 3 gets a different output than the same sequence in a batch of "
                f"its own (largest difference {float(diff):.4g}). Attention must stay within each sequence: "
                "the batch axis stays axis 0 through every view and transpose (split: view then transpose(1, 2); "
                "merge: transpose(1, 2) then view)."
            )


@suite.check("Gradients reach every parameter", lesson="#the-output-projection")
def check_gradients(learner):
    m = make(learner, d_in=3, d_out=4, context_length=5, num_heads=2, seed=12)
    x = inputs(2, 5, 3, seed=112)
    out = m(x)
    if not torch.is_tensor(out) or not out.requires_grad:
        raise CheckFailed("The output does not depend on any parameter (no gradient can flow). Do not use "
                          "torch.no_grad(), .detach() or .data in forward.")
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(13))
    (out * weights).sum().backward()
    for name, param in m.named_parameters():
        if param.grad is None or not bool((param.grad != 0).any()):
            raise CheckFailed(
                f"The parameter {name} gets no gradient, so training would never change it. Is it used in "
                "forward (and not through .detach() or .data)?"
            )

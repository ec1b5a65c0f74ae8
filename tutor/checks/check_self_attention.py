"""Hidden checks for the self_attention exercise (lessons/04-self-attention.md)."""

import torch

import tutor.checks._common as std
from tutor.grading.framework import CheckFailed, Suite, copy_params, describe_tensor

suite = Suite("self_attention")


def _x(seed, num_tokens, d_in):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(num_tokens, d_in, generator=g)


def _wide(ref):
    # Wider weights than either default init (v1: [0, 1), v2: ±1/√d_in) give peaked attention weights,
    # so every mistake shows clearly in the numbers.
    for p in ref.parameters():
        p.uniform_(-2.0, 2.0)


def _run(impl, cls, seed, num_tokens, d_in, d_out, **kwargs):
    """Context vectors of `impl.<cls>` with the reference's (seeded) parameters copied in."""
    m = std.with_reference_params(suite, impl, lambda mod: getattr(mod, cls)(d_in, d_out, **kwargs), seed=seed,
                                  init=_wide)
    return m(_x(seed + 1000, num_tokens, d_in))


# -- known mistakes --------------------------------------------------------------------------------------
_SCALED_SOFTMAX = "torch.softmax(attn_scores / keys.shape[-1] ** 0.5, dim=-1)"

suite.mistake(
    "no-scaling",
    "The attention scores are not divided by √d_k before the softmax.",
    lesson="#scaled-dot-product-attention",
    replace=[(_SCALED_SOFTMAX, "torch.softmax(attn_scores, dim=-1)")],
)
suite.mistake(
    "scaled-by-d-k",
    "The scores are divided by d_k; divide by its square root, √d_k = keys.shape[-1] ** 0.5.",
    lesson="#scaled-dot-product-attention",
    replace=[(_SCALED_SOFTMAX, "torch.softmax(attn_scores / keys.shape[-1], dim=-1)")],
)
suite.mistake(
    "scaled-after-softmax",
    "The weights are divided by √d_k after the softmax; scale the scores before it, so each row still sums to 1.",
    lesson="#scaled-dot-product-attention",
    replace=[(_SCALED_SOFTMAX, "torch.softmax(attn_scores, dim=-1) / keys.shape[-1] ** 0.5")],
)
suite.mistake(
    "softmax-dim-0",
    "The softmax runs over dim 0 (each column sums to 1); it must run over the last dim, so each row "
    "(one query) sums to 1.",
    lesson="#all-tokens-at-once",
    replace=[(_SCALED_SOFTMAX, "torch.softmax(attn_scores / keys.shape[-1] ** 0.5, dim=0)")],
)
suite.mistake(
    "keys-queries-swapped",
    "Queries and keys are swapped (keys @ queries.T): row i of the scores must be query i against every key, "
    "queries @ keys.T.",
    lesson="#queries-keys-and-values",
    replace=[("attn_scores = queries @ keys.T", "attn_scores = keys @ queries.T")],
)
suite.mistake(
    "query-weights-for-keys",
    "The keys are computed with W_query; use W_key for the keys.",
    lesson="#queries-keys-and-values",
    replace=[("keys = x @ self.W_key", "keys = x @ self.W_query"),
             ("keys = self.W_key(x)", "keys = self.W_query(x)")],
)
suite.mistake(
    "values-not-projected",
    "The attention weights mix the inputs x instead of the values (x projected by W_value).",
    lesson="#queries-keys-and-values",
    replace=[("return attn_weights @ values", "return attn_weights @ x")],
)
suite.mistake(
    "linear-weight-not-transposed",
    "nn.Linear's weight is used as x @ W.weight; it is stored as (d_out, d_in), so call the layer "
    "(self.W_query(x)) or use W.weight.T.",
    lesson="#selfattention_v2-the-same-with-nnlinear",
    replace=[("queries = self.W_query(x)", "queries = x @ self.W_query.weight"),
             ("keys = self.W_key(x)", "keys = x @ self.W_key.weight"),
             ("values = self.W_value(x)", "values = x @ self.W_value.weight")],
)
suite.mistake(
    "bias-ignored",
    "The nn.Linear layers never have a bias; pass bias=qkv_bias.",
    lesson="#selfattention_v2-the-same-with-nnlinear",
    replace=[("nn.Linear(d_in, d_out, bias=qkv_bias)", "nn.Linear(d_in, d_out, bias=False)")],
)
suite.mistake(
    "bias-always",
    "The nn.Linear layers always have a bias (nn.Linear's default); pass bias=qkv_bias.",
    lesson="#selfattention_v2-the-same-with-nnlinear",
    replace=[("nn.Linear(d_in, d_out, bias=qkv_bias)", "nn.Linear(d_in, d_out)")],
)


# -- compare-checks ----------------------------------------------------------------------------------------
@suite.compare("Parameter names and shapes: v1 (d_in, d_out) Parameters; v2 nn.Linear weights, biases only "
               "with qkv_bias=True", lesson="#the-exercise")
def check_parameter_shapes(impl):
    out = {}
    for label, module in (("SelfAttention_v1(3, 2)", impl.SelfAttention_v1(3, 2)),
                          ("SelfAttention_v2(3, 2)", impl.SelfAttention_v2(3, 2)),
                          ("SelfAttention_v2(3, 2, qkv_bias=True)", impl.SelfAttention_v2(3, 2, qkv_bias=True))):
        out[label] = {name: tuple(p.shape) for name, p in module.named_parameters()}
    return out


@suite.compare("SelfAttention_v1 on 6 tokens, d_in=3 -> d_out=2", lesson="#selfattention_v1-a-module-with-nnparameter")
def check_v1_small(impl):
    return _run(impl, "SelfAttention_v1", 1, num_tokens=6, d_in=3, d_out=2)


@suite.compare("SelfAttention_v1 on other shapes (4 tokens 5 -> 3, 5 tokens 4 -> 4, 1 token 2 -> 3)",
               lesson="#selfattention_v1-a-module-with-nnparameter")
def check_v1_shapes(impl):
    return [_run(impl, "SelfAttention_v1", 2, num_tokens=4, d_in=5, d_out=3),
            _run(impl, "SelfAttention_v1", 3, num_tokens=5, d_in=4, d_out=4),
            _run(impl, "SelfAttention_v1", 4, num_tokens=1, d_in=2, d_out=3)]


@suite.compare("SelfAttention_v2 on 6 tokens, d_in=3 -> d_out=2", lesson="#selfattention_v2-the-same-with-nnlinear")
def check_v2_small(impl):
    return _run(impl, "SelfAttention_v2", 5, num_tokens=6, d_in=3, d_out=2)


@suite.compare("SelfAttention_v2 with d_in = d_out (5 tokens, 4 -> 4)", lesson="#selfattention_v2-the-same-with-nnlinear")
def check_v2_square(impl):
    return _run(impl, "SelfAttention_v2", 6, num_tokens=5, d_in=4, d_out=4)


@suite.compare("SelfAttention_v2 on other shapes (3 tokens 6 -> 4, 1 token 3 -> 2)",
               lesson="#selfattention_v2-the-same-with-nnlinear")
def check_v2_shapes(impl):
    return [_run(impl, "SelfAttention_v2", 7, num_tokens=3, d_in=6, d_out=4),
            _run(impl, "SelfAttention_v2", 8, num_tokens=1, d_in=3, d_out=2)]


@suite.compare("SelfAttention_v2 with qkv_bias=True (6 tokens 3 -> 2, 4 tokens 4 -> 4)",
               lesson="#selfattention_v2-the-same-with-nnlinear")
def check_v2_bias(impl):
    return [_run(impl, "SelfAttention_v2", 9, num_tokens=6, d_in=3, d_out=2, qkv_bias=True),
            _run(impl, "SelfAttention_v2", 10, num_tokens=4, d_in=4, d_out=4, qkv_bias=True)]


# -- property checks ---------------------------------------------------------------------------------------
_CONST = torch.tensor([0.5, -2.0, 3.0])


def _constant_value_modules(learner):
    """v1 and v2 modules whose value vectors are all equal to _CONST, for any input of the given form.

    v1: inputs carry a constant 1 in their last feature and W_value maps only that feature, to _CONST.
    v2: W_value's weight is 0 and its bias is _CONST.
    """
    torch.manual_seed(11)
    ref1 = suite.reference.SelfAttention_v1(4, 3)
    with torch.no_grad():
        ref1.W_value.zero_()
        ref1.W_value[-1] = _CONST
    m1 = learner.SelfAttention_v1(4, 3)
    copy_params(ref1, m1)

    ref2 = suite.reference.SelfAttention_v2(4, 3, qkv_bias=True)
    with torch.no_grad():
        for p in ref2.parameters():
            p.uniform_(-1.0, 1.0)
        ref2.W_value.weight.zero_()
        ref2.W_value.bias.copy_(_CONST)
    m2 = learner.SelfAttention_v2(4, 3, qkv_bias=True)
    copy_params(ref2, m2)
    return m1, m2


@suite.check("Each row of attention weights sums to 1: when every value vector is the same, every context "
             "vector equals it", lesson="#softmax-turns-scores-into-weights")
def check_rows_sum_to_one(learner):
    m1, m2 = _constant_value_modules(learner)
    x = _x(12, 5, 4)
    x[:, -1] = 1.0
    for label, m in (("SelfAttention_v1", m1), ("SelfAttention_v2 (qkv_bias=True)", m2)):
        out = m(x)
        expected = _CONST.expand(5, 3)
        if tuple(out.shape) != (5, 3) or not torch.allclose(out, expected, atol=1e-5):
            raise CheckFailed(
                f"{label}: with every value vector equal to {_CONST.tolist()}, a weighted average with weights that "
                f"sum to 1 gives that same vector for every token.\n"
                f"  expected: {describe_tensor(expected)}\n  got:      {describe_tensor(out)}\n"
                "Check that the softmax runs over the last dimension and that nothing is applied after it.")


@suite.check("Reordering the tokens only reorders the context vectors", lesson="#all-tokens-at-once")
def check_permutation(learner):
    torch.manual_seed(13)
    ref = suite.reference.SelfAttention_v2(3, 4)
    m = learner.SelfAttention_v2(3, 4)
    copy_params(ref, m)
    x = _x(14, 6, 3)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    a, b = m(x)[perm], m(x[perm])
    if tuple(a.shape) != (6, 4) or not torch.allclose(a, b, atol=1e-5):
        raise CheckFailed(
            "Self-attention has no notion of order: shuffling the input tokens should shuffle the outputs the same "
            "way and change nothing else.\n"
            f"  outputs then shuffled: {describe_tensor(a)}\n  shuffled then outputs: {describe_tensor(b)}")


def _gradient_modules(learner):
    return {label: std.with_reference_params(suite, learner, lambda m, label=label, kw=kw: getattr(m, label)(3, 2, **kw),
                                             seed=15)
            for label, kw in (("SelfAttention_v1", {}), ("SelfAttention_v2", {"qkv_bias": True}))}


check_gradients = std.gradients_reach_every_parameter(
    suite, title="Gradients reach W_query, W_key and W_value", build=_gradient_modules,
    inputs=lambda: _x(16, 4, 3), loss=lambda out: out.pow(2).sum(), lesson="#queries-keys-and-values",
    # W_key.bias adds the same amount to a whole row of scores, which the softmax cancels:
    # its gradient is zero in any correct answer, so only ask that it exists.
    may_be_zero=("W_key.bias",),
    hint="Every weight must take part in the output (queries and keys through the attention weights, values "
         "through the mix).")

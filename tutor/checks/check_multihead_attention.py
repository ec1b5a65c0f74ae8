"""Hidden checks for the multihead_attention exercise (lessons/06-multihead-attention.md).

Compare-checks copy the reference's parameters (`W_query`, `W_key`, `W_value`, `out_proj`; never the
`mask` buffer) into the learner's module and compare outputs for several numbers of heads. Property checks
look at what every correct answer does: causality, exactly-zero masked weights in every head, dropout off
in eval() and plausible in train(), batch independence, gradients. The "probe" makes each head's attention
weights visible in the output: with zero query/key weights every score is 0; the input is the identity
(token j = one-hot e_j); each head's value slice maps e_j to [e_j, e_j]; and out_proj is the identity. So
output features h*2T .. h*2T+2T-1 of token i are head h's weights of token i, twice.
"""

import torch

import tutor.checks._attention as att
import tutor.checks._common as std
from tutor.grading.framework import CheckFailed, Suite

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
    return att.make(suite, impl, "MultiHeadAttention", seed=seed, d_in=d_in, d_out=d_out,
                    context_length=context_length, dropout=dropout, num_heads=num_heads, qkv_bias=qkv_bias)


inputs, call = att.inputs, std.run
PROBE_TOKENS, PROBE_HEADS = att.PROBE_TOKENS, 2


def probe(impl, dropout):
    """A module whose output shows each head's attention weights (see the module docstring)."""
    T, H = PROBE_TOKENS, PROBE_HEADS
    d_out = H * 2 * T

    def init(ref):
        ref.W_query.weight.zero_()
        ref.W_key.weight.zero_()
        ref.W_value.weight.copy_(torch.eye(T).repeat(2 * H, 1))  # (d_out, T): every head slice is [I; I]
        ref.out_proj.weight.copy_(torch.eye(d_out))
        ref.out_proj.bias.zero_()

    return std.with_reference_params(
        suite, impl,
        lambda m: m.MultiHeadAttention(d_in=T, d_out=d_out, context_length=T, dropout=dropout, num_heads=H),
        seed=0, init=init)


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


check_shorter_inputs = att.shorter_inputs(
    suite, build=lambda impl, n: make(impl, d_in=4, d_out=6, context_length=n, num_heads=3, seed=6), d_in=4,
    seed=106, lesson="#attention-in-every-head-at-once")


@suite.compare("In eval() mode dropout is off and the outputs match", lesson="#attention-in-every-head-at-once")
def check_eval_mode(impl):
    m = make(impl, d_in=3, d_out=6, context_length=6, num_heads=3, dropout=0.5, seed=7)
    m.eval()
    return call(m, inputs(2, 6, 3, seed=107))


# -- property checks -------------------------------------------------------------------------------------------
check_mask_is_buffer = att.mask_is_buffer(
    suite, build=lambda learner: learner.MultiHeadAttention(d_in=3, d_out=4, context_length=6, dropout=0.0,
                                                            num_heads=2),
    lesson="#attention-in-every-head-at-once")

check_causality = std.causality(
    suite, build=lambda learner: make(learner, d_in=3, d_out=6, context_length=6, num_heads=2, seed=8),
    inputs=lambda: inputs(2, 6, 3, seed=108), vary=std.vary_normal(seed=200),
    before=lambda out: att.require_finite(out, "Causality"), lesson="#attention-in-every-head-at-once",
    hint="in every head the mask must hide every later key (scores set to -inf above the diagonal), and "
         "splitting or merging the heads must not mix tokens (view, then transpose).")

check_masked_weights = att.masked_weights(
    suite, probe=probe, probe_weights=probe_weights, heads=PROBE_HEADS, lesson="#attention-in-every-head-at-once",
    title="In every head, masked attention weights are exactly 0 and each row sums to 1")

check_eval_deterministic = std.eval_is_deterministic(
    suite, build=lambda learner: make(learner, d_in=3, d_out=6, context_length=6, num_heads=3, dropout=0.5, seed=9),
    inputs=lambda: inputs(2, 6, 3, seed=109), lesson="#attention-in-every-head-at-once",
    hint="Dropout must be off in eval(): use nn.Dropout, or pass training=self.training to F.dropout.")

check_dropout_in_training = att.dropout_on_weights(
    suite, probe=probe, probe_weights=probe_weights, batch=16, seed=10, lesson="#attention-in-every-head-at-once",
    title="train() with dropout=0.5 drops about half of each head's attention weights and scales up the rest",
    elsewhere="the context vectors, the values or the output")

check_batch_independence = std.batch_independence(
    suite, build=lambda learner: make(learner, d_in=3, d_out=6, context_length=5, num_heads=2, seed=11),
    inputs=lambda: inputs(3, 5, 3, seed=111), lesson="#merging-heads",
    hint="Attention must stay within each sequence: the batch axis stays axis 0 through every view and "
         "transpose (split: view then transpose(1, 2); merge: transpose(1, 2) then view).")

check_gradients = std.gradients_reach_every_parameter(
    suite, build=lambda learner: make(learner, d_in=3, d_out=4, context_length=5, num_heads=2, seed=12),
    inputs=lambda: inputs(2, 5, 3, seed=112), lesson="#the-output-projection",
    hint="Is it used in forward (and not through .detach() or .data)?")

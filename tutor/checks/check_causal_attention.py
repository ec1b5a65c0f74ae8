"""Hidden checks for the causal_attention exercise (lessons/05-causal-attention.md).

Compare-checks copy the reference's parameters (`W_query`, `W_key`, `W_value`; never the `mask` buffer)
into the learner's module and compare outputs. Property checks look at what every correct answer does:
causality, exactly-zero masked weights, dropout off in eval() and plausible in train(), batch
independence, gradients. The attention weights are not an output of the module, so the "probe" below
makes them visible: with zero query/key weights every score is 0, and with one-hot inputs and a value
projection that copies them, the context vectors *are* the (dropped-out) attention weights.
"""

import torch

import tutor.checks._attention as att
import tutor.checks._common as std
from tutor.grading.framework import CheckFailed, Suite

suite = Suite("causal_attention")


# -- known mistakes (text variants of solutions/causal_attention.py) ---------------------------------------
suite.mistake(
    "no-scaling",
    "The attention scores are not divided by √d_k before the softmax.",
    lesson="#putting-the-steps-in-order",
    replace=[("attn_scores / d_k**0.5", "attn_scores")],
)
suite.mistake(
    "scaled-by-d_k",
    "The scores are divided by d_k; divide by its square root, √d_k.",
    lesson="#putting-the-steps-in-order",
    replace=[("attn_scores / d_k**0.5", "attn_scores / d_k")],
)
suite.mistake(
    "scaled-by-d_in",
    "The scores are divided by √d_in; the scale is √d_k, the size of a key (d_out here).",
    lesson="#putting-the-steps-in-order",
    replace=[("d_k = keys.shape[-1]", "d_k = d_in")],
)
suite.mistake(
    "softmax-over-queries",
    "The softmax runs over the query axis (dim=1); it must run over the keys, the last axis (dim=-1), "
    "so that each row of weights sums to 1.",
    lesson="#batches",
    replace=[("dim=-1)", "dim=1)")],
)
suite.mistake(
    "mask-hides-diagonal",
    "The mask also hides the diagonal (diagonal=0 instead of 1): a token cannot attend to itself, and the "
    "first token has nothing left to attend to, which gives NaN.",
    lesson="#the-causal-mask",
    replace=[("diagonal=1", "diagonal=0")],
)
suite.mistake(
    "mask-hides-past",
    "The mask hides the past instead of the future (lower triangle instead of upper): each token sees "
    "itself and the tokens after it.",
    lesson="#the-causal-mask",
    replace=[("torch.triu(", "torch.tril("), ("diagonal=1", "diagonal=-1")],
)
suite.mistake(
    "mask-not-sliced",
    "The mask is not sliced to the current number of tokens: it only fits inputs of exactly "
    "context_length tokens. Use mask[:num_tokens, :num_tokens].",
    lesson="#slicing-the-mask-to-the-current-length",
    replace=[("self.mask[:num_tokens, :num_tokens]", "self.mask")],
)
suite.mistake(
    "mask-after-softmax",
    "The future is zeroed after the softmax without renormalising, so the rows of attention weights no "
    "longer sum to 1. Set the scores to -inf before the softmax instead.",
    lesson="#why-not-mask-after-the-softmax",
    replace=[
        ('        attn_scores = attn_scores.masked_fill(future, float("-inf"))  # exp(-inf) = 0 in the softmax\n', ""),
        ("        attn_weights = self.dropout(attn_weights)",
         "        attn_weights = attn_weights.masked_fill(future, 0.0)\n        attn_weights = self.dropout(attn_weights)"),
    ],
)


# -- helpers -------------------------------------------------------------------------------------------------
def make(impl, d_in, d_out, context_length, dropout=0.0, qkv_bias=False, seed=0):
    """The learner's (or a variant's) module with the reference's parameters for this seed."""
    return att.make(suite, impl, "CausalAttention", seed=seed, d_in=d_in, d_out=d_out,
                    context_length=context_length, dropout=dropout, qkv_bias=qkv_bias)


inputs, call = att.inputs, std.run
T = att.PROBE_TOKENS


def probe(impl, dropout):
    """A module whose output shows its attention weights (see the module docstring)."""
    def init(ref):
        ref.W_query.weight.zero_()
        ref.W_key.weight.zero_()
        ref.W_value.weight.copy_(torch.cat([torch.eye(T), torch.eye(T)]))  # (2T, T): e_j -> [e_j, e_j]

    return std.with_reference_params(
        suite, impl, lambda m: m.CausalAttention(d_in=T, d_out=2 * T, context_length=T, dropout=dropout),
        seed=0, init=init)


def probe_weights(m, batch):
    """(weights, copies): two (batch, 1, T, T) tensors, both the attention weights (after any dropout).

    Every score is 0, so token i weighs its visible keys equally; token j's value is [e_j, e_j], so output
    row i is [a_i0 .. a_i(T-1), a_i0 .. a_i(T-1)].
    """
    x = torch.eye(T).expand(batch, T, T).clone()
    out = call(m, x)
    if tuple(out.shape) != (batch, T, 2 * T):
        raise CheckFailed(f"Expected an output of shape {(batch, T, 2 * T)}, got {tuple(out.shape)}.")
    w = out.view(batch, T, 2, T).unsqueeze(1)  # (batch, 1, T, 2, T)
    return w[:, :, :, 0, :], w[:, :, :, 1, :]


# -- compare-checks --------------------------------------------------------------------------------------------
@suite.compare("CausalAttention returns the right context vectors", lesson="#putting-the-steps-in-order")
def check_context_vectors(impl):
    m = make(impl, d_in=3, d_out=2, context_length=6, seed=0)
    return call(m, inputs(2, 6, 3, seed=100))


@suite.compare("…and for other sizes, seeds and batch sizes (1 and 3)", lesson="#batches")
def check_other_shapes(impl):
    outs = []
    for b, n, d_in, d_out, seed in [(1, 5, 4, 4, 1), (3, 8, 6, 3, 2), (2, 4, 2, 5, 3)]:
        m = make(impl, d_in=d_in, d_out=d_out, context_length=n, seed=seed)
        outs.append(call(m, inputs(b, n, d_in, seed=100 + seed)))
    return outs


@suite.compare("qkv_bias=True adds a bias to the three projections", lesson="#putting-the-steps-in-order")
def check_qkv_bias(impl):
    m = make(impl, d_in=4, d_out=3, context_length=5, qkv_bias=True, seed=4)
    return call(m, inputs(2, 5, 4, seed=104))


check_shorter_inputs = att.shorter_inputs(
    suite, build=lambda impl, n: make(impl, d_in=4, d_out=3, context_length=n, seed=5), d_in=4,
    lesson="#slicing-the-mask-to-the-current-length")


@suite.compare("In eval() mode dropout is off and the outputs match", lesson="#dropout-on-the-attention-weights")
def check_eval_mode(impl):
    m = make(impl, d_in=3, d_out=4, context_length=6, dropout=0.5, seed=6)
    m.eval()
    return call(m, inputs(2, 6, 3, seed=106))


# -- property checks -------------------------------------------------------------------------------------------
check_mask_is_buffer = att.mask_is_buffer(
    suite, build=lambda learner: learner.CausalAttention(d_in=3, d_out=2, context_length=6, dropout=0.0),
    lesson="#slicing-the-mask-to-the-current-length")

check_causality = std.causality(
    suite, build=lambda learner: make(learner, d_in=3, d_out=4, context_length=6, seed=7),
    inputs=lambda: inputs(2, 6, 3, seed=107), vary=std.vary_normal(seed=200),
    before=lambda out: att.require_finite(out, "Causality"), lesson="#the-causal-mask",
    hint="the mask must hide every later key (scores set to -inf above the diagonal).")

check_masked_weights = att.masked_weights(
    suite, probe=probe, probe_weights=probe_weights, heads=1, lesson="#the-causal-mask",
    title="Masked attention weights are exactly 0 and each row sums to 1")

check_eval_deterministic = std.eval_is_deterministic(
    suite, build=lambda learner: make(learner, d_in=3, d_out=4, context_length=6, dropout=0.5, seed=8),
    inputs=lambda: inputs(2, 6, 3, seed=108), lesson="#dropout-on-the-attention-weights",
    hint="Dropout must be off in eval(): use nn.Dropout, or pass training=self.training to F.dropout.")

check_dropout_in_training = att.dropout_on_weights(
    suite, probe=probe, probe_weights=probe_weights, batch=32, seed=9, lesson="#dropout-on-the-attention-weights",
    title="train() with dropout=0.5 drops about half of the attention weights and scales up the rest",
    elsewhere="the context vectors (or on the values)")

check_batch_independence = std.batch_independence(
    suite, build=lambda learner: make(learner, d_in=3, d_out=4, context_length=5, seed=10),
    inputs=lambda: inputs(3, 5, 3, seed=110), lesson="#batches",
    hint="Attention must stay within each sequence: transpose only the last two axes of the keys "
         "(transpose(1, 2), not .T) and never mix the batch axis into the tokens.")

check_gradients = std.gradients_reach_every_parameter(
    suite, build=lambda learner: make(learner, d_in=3, d_out=4, context_length=5, seed=11),
    inputs=lambda: inputs(2, 5, 3, seed=111), lesson="#putting-the-steps-in-order",
    hint="Is it used in forward (and not through .detach() or .data)?")

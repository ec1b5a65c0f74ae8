"""Exercise 4: self-attention with trainable weights (lesson: lessons/04-self-attention.md).

Write `SelfAttention_v1` and `SelfAttention_v2`. Grade with `tutor grade self_attention`.

Both classes compute, for an input `x` of shape `(num_tokens, d_in)` (no batch dimension):
    queries, keys, values = projections of x                         each (num_tokens, d_out)
    weights = softmax(queries @ keys.T / sqrt(d_k), over the last dim)   (num_tokens, num_tokens)
    output  = weights @ values                                        (num_tokens, d_out)
where d_k = d_out, the size of a key vector.
"""

import torch
import torch.nn as nn


class SelfAttention_v1(nn.Module):
    """Self-attention with raw weight matrices.

    Attributes the checks rely on (their values are copied from the reference):
        W_query, W_key, W_value: `nn.Parameter`s of shape `(d_in, d_out)`, applied as `x @ W`.
    """

    def __init__(self, d_in, d_out):
        super().__init__()
        raise NotImplementedError

    def forward(self, x):
        """x: `(num_tokens, d_in)` -> context vectors `(num_tokens, d_out)`."""
        raise NotImplementedError


class SelfAttention_v2(nn.Module):
    """Self-attention with `nn.Linear` projections.

    Attributes the checks rely on (their parameters are copied from the reference):
        W_query, W_key, W_value: `nn.Linear(d_in, d_out, bias=qkv_bias)`, so each has a `weight` of shape
        `(d_out, d_in)` and, only when `qkv_bias=True`, a `bias` of shape `(d_out,)`.
    """

    def __init__(self, d_in, d_out, qkv_bias=False):
        super().__init__()
        raise NotImplementedError

    def forward(self, x):
        """x: `(num_tokens, d_in)` -> context vectors `(num_tokens, d_out)`."""
        raise NotImplementedError

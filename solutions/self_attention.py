"""Reference solution for the self_attention exercise: scaled dot-product attention with trainable weights.

Every token is projected into a query, a key and a value. A token's query is compared with every key
(dot products), the scores are scaled by 1/√d_k and turned into weights with a softmax, and the token's
context vector is the weighted sum of all values. There is no mask here yet (every token sees every
other token) and no batch dimension: inputs are (num_tokens, d_in).
"""

import torch
import torch.nn as nn


class SelfAttention_v1(nn.Module):
    """Self-attention with raw weight matrices of shape (d_in, d_out), applied as `x @ W`."""

    def __init__(self, d_in, d_out):
        super().__init__()
        self.W_query = nn.Parameter(torch.rand(d_in, d_out))
        self.W_key = nn.Parameter(torch.rand(d_in, d_out))
        self.W_value = nn.Parameter(torch.rand(d_in, d_out))

    def forward(self, x):                                # x: (num_tokens, d_in)
        keys = x @ self.W_key                            # (num_tokens, d_out)
        queries = x @ self.W_query                       # (num_tokens, d_out)
        values = x @ self.W_value                        # (num_tokens, d_out)

        attn_scores = queries @ keys.T                   # (num_tokens, num_tokens); row i: query i vs every key
        # Dividing by √d_k keeps the scores' spread independent of d_out, so the softmax does not saturate.
        attn_weights = torch.softmax(attn_scores / keys.shape[-1] ** 0.5, dim=-1)  # each row sums to 1
        return attn_weights @ values                     # (num_tokens, d_out)


class SelfAttention_v2(nn.Module):
    """The same computation with `nn.Linear` projections (weights stored as (d_out, d_in), optional bias)."""

    def __init__(self, d_in, d_out, qkv_bias=False):
        super().__init__()
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)

    def forward(self, x):                                # x: (num_tokens, d_in)
        keys = self.W_key(x)                             # (num_tokens, d_out)
        queries = self.W_query(x)                        # (num_tokens, d_out)
        values = self.W_value(x)                         # (num_tokens, d_out)

        attn_scores = queries @ keys.T                   # (num_tokens, num_tokens)
        attn_weights = torch.softmax(attn_scores / keys.shape[-1] ** 0.5, dim=-1)
        return attn_weights @ values                     # (num_tokens, d_out)

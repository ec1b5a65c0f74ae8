"""Reference solution for the multihead_attention exercise: several causal attention heads computed at once.

Instead of running `num_heads` separate CausalAttention modules, project the input once to `d_out`
features, cut those features into `num_heads` slices of `head_dim = d_out // num_heads` (one per head),
and move the head axis next to the batch axis, so one batched matrix product computes every head's
attention. The heads' outputs are glued back together and mixed by a final linear layer, `out_proj`.
"""

import torch
import torch.nn as nn


class MultiHeadAttention(nn.Module):
    """Causal multi-head self-attention with dropout on the attention weights and an output projection."""

    def __init__(self, d_in, d_out, context_length, dropout, num_heads, qkv_bias=False):
        super().__init__()
        assert d_out % num_heads == 0, (
            f"d_out ({d_out}) must be divisible by num_heads ({num_heads}): each head gets d_out // num_heads features"
        )
        self.d_out = d_out
        self.num_heads = num_heads
        self.head_dim = d_out // num_heads
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.out_proj = nn.Linear(d_out, d_out)  # mixes what the heads found; has a bias
        self.dropout = nn.Dropout(dropout)
        # True strictly above the diagonal: the future positions each query must not see.
        self.register_buffer(
            "mask", torch.triu(torch.ones(context_length, context_length, dtype=torch.bool), diagonal=1)
        )

    def forward(self, x):
        b, num_tokens, d_in = x.shape                     # (b, num_tokens, d_in)
        queries = self.W_query(x)                         # (b, num_tokens, d_out)
        keys = self.W_key(x)                              # (b, num_tokens, d_out)
        values = self.W_value(x)                          # (b, num_tokens, d_out)

        # Split the last axis into (num_heads, head_dim), then swap the head and token axes so that
        # each head is a separate (num_tokens, head_dim) problem, batched like the batch axis.
        queries = queries.view(b, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)
        keys = keys.view(b, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)
        values = values.view(b, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)
        # queries, keys, values: (b, num_heads, num_tokens, head_dim)

        attn_scores = queries @ keys.transpose(2, 3)      # (b, num_heads, num_tokens, num_tokens)
        future = self.mask[:num_tokens, :num_tokens]      # (num_tokens, num_tokens), broadcast over b and heads
        attn_scores = attn_scores.masked_fill(future, float("-inf"))
        d_k = keys.shape[-1]                              # head_dim: each head's dot products sum head_dim terms
        attn_weights = torch.softmax(attn_scores / d_k**0.5, dim=-1)  # (b, num_heads, num_tokens, num_tokens)
        attn_weights = self.dropout(attn_weights)

        context = attn_weights @ values                   # (b, num_heads, num_tokens, head_dim)
        # Undo the split: tokens back in front of heads, then glue the heads' slices into d_out features.
        # After transpose the memory is no longer in row order, so .contiguous() comes before .view().
        context = context.transpose(1, 2).contiguous().view(b, num_tokens, self.d_out)  # (b, num_tokens, d_out)
        return self.out_proj(context)                     # (b, num_tokens, d_out)

"""Reference solution for the causal_attention exercise: single-head self-attention that cannot see the future.

The same scaled dot-product attention as before, now on batches `(b, num_tokens, d_in)` and with two
additions a GPT needs. A causal mask sets the score of every later token to -inf before the softmax, so
those attention weights come out as exactly 0 and each row still sums to 1. Dropout then zeroes a random
part of the attention weights during training (and does nothing in `eval()` mode).
"""

import torch
import torch.nn as nn


class CausalAttention(nn.Module):
    """Causal (masked) self-attention with dropout on the attention weights."""

    def __init__(self, d_in, d_out, context_length, dropout, qkv_bias=False):
        super().__init__()
        self.d_out = d_out
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.dropout = nn.Dropout(dropout)
        # True strictly above the diagonal: for query i, the keys j > i it must not see.
        # A buffer is not trained, but it moves with the module on .to(device).
        self.register_buffer(
            "mask", torch.triu(torch.ones(context_length, context_length, dtype=torch.bool), diagonal=1)
        )

    def forward(self, x):
        b, num_tokens, d_in = x.shape                     # (b, num_tokens, d_in)
        queries = self.W_query(x)                         # (b, num_tokens, d_out)
        keys = self.W_key(x)                              # (b, num_tokens, d_out)
        values = self.W_value(x)                          # (b, num_tokens, d_out)

        # Swap the last two axes only: axis 0 is the batch, and sequences never attend to each other.
        attn_scores = queries @ keys.transpose(1, 2)      # (b, num_tokens, num_tokens)
        # The mask was built for context_length tokens; this batch may be shorter.
        future = self.mask[:num_tokens, :num_tokens]      # (num_tokens, num_tokens), broadcast over b
        attn_scores = attn_scores.masked_fill(future, float("-inf"))  # exp(-inf) = 0 in the softmax
        d_k = keys.shape[-1]
        attn_weights = torch.softmax(attn_scores / d_k**0.5, dim=-1)  # (b, num_tokens, num_tokens)
        attn_weights = self.dropout(attn_weights)         # only in train(); kept weights scaled by 1/(1-p)

        context = attn_weights @ values                   # (b, num_tokens, d_out)
        return context

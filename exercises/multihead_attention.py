"""Exercise 6: multi-head causal attention (lesson: lessons/06-multihead-attention.md).

Write `MultiHeadAttention`: project the input once into queries, keys and values of size d_out, split
them into `num_heads` heads of `d_out // num_heads` features, run causal attention in every head at once,
glue the heads back together and apply an output projection.
"""

import torch
import torch.nn as nn


class MultiHeadAttention(nn.Module):
    """Causal multi-head self-attention with dropout and an output projection.

    Args:
        d_in: size of each input token vector.
        d_out: size of each output vector; must be divisible by num_heads.
        context_length: the longest sequence the module will see; build the mask for this many tokens.
        dropout: probability of dropping an attention weight during training.
        num_heads: number of heads; each head works on head_dim = d_out // num_heads features.
        qkv_bias: whether the query, key and value projections have a bias.

    Attributes the checks rely on:
        W_query, W_key, W_value: `nn.Linear(d_in, d_out, bias=qkv_bias)`. Head h uses output features
            h*head_dim .. (h+1)*head_dim - 1 of each projection (split the d_out axis into
            (num_heads, head_dim), in that order).
        out_proj: `nn.Linear(d_out, d_out)` (with its bias), applied to the concatenated heads.
            The checks copy parameters by these names; there are no other parameters.
        dropout: the dropout applied to the attention weights, after the softmax.
        mask: a buffer (`self.register_buffer("mask", ...)`) of shape (context_length, context_length)
            marking which keys each query must not see. Either convention is fine; the checks never read it.
    """

    def __init__(self, d_in, d_out, context_length, dropout, num_heads, qkv_bias=False):
        super().__init__()
        raise NotImplementedError

    def forward(self, x):
        """Context vectors for a batch of token sequences.

        Args:
            x: (b, num_tokens, d_in), with num_tokens <= context_length (it may be shorter).

        Returns:
            (b, num_tokens, d_out): out_proj of the heads' causal attention outputs, concatenated in head
            order. Within a head, scores are divided by √head_dim before the softmax.
        """
        raise NotImplementedError

"""Exercise 5: causal self-attention with dropout (lesson: lessons/05-causal-attention.md).

Write `CausalAttention`: scaled dot-product attention on batches, where each token may only attend to
itself and to the tokens before it, with dropout on the attention weights.
"""

import torch
import torch.nn as nn


class CausalAttention(nn.Module):
    """Causal (masked) single-head self-attention with dropout.

    Args:
        d_in: size of each input token vector.
        d_out: size of each output context vector (also the size of queries, keys and values).
        context_length: the longest sequence the module will see; build the mask for this many tokens.
        dropout: probability of dropping an attention weight during training.
        qkv_bias: whether the three projections have a bias.

    Attributes the checks rely on:
        W_query, W_key, W_value: `nn.Linear(d_in, d_out, bias=qkv_bias)`; the checks copy their
            parameters by these names (`W_query.weight`, and `W_query.bias` when qkv_bias=True).
            No other parameters.
        mask: a buffer (`self.register_buffer("mask", ...)`) of shape (context_length, context_length)
            marking which keys each query must not see. Either convention is fine (True/1 where hidden,
            or True/1 where visible); the checks never read it.
        Dropout: apply it to the attention weights, after the softmax (for example with `nn.Dropout`).
    """

    def __init__(self, d_in, d_out, context_length, dropout, qkv_bias=False):
        super().__init__()
        raise NotImplementedError

    def forward(self, x):
        """Context vectors for a batch of token sequences.

        Args:
            x: (b, num_tokens, d_in), with num_tokens <= context_length (it may be shorter).

        Returns:
            (b, num_tokens, d_out): row i of each sequence mixes the values of tokens 0..i only, with
            weights softmax(q·k / √d_out) over those tokens, then dropout on the weights in train() mode.
        """
        raise NotImplementedError

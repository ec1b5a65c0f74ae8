"""Exercise 7: LayerNorm, GELU and the feed-forward network (lesson: lessons/07-layers.md).

Write the three small layers a transformer block is built from. Each acts on the last dimension only:
the output has the input's shape.
"""

import math

import torch
import torch.nn as nn


class LayerNorm(nn.Module):
    """Layer normalization over the last (embedding) dimension, with a learned scale and shift.

    Attributes the checks rely on:
        eps: 1e-5, added to the variance inside the square root.
        scale: nn.Parameter of shape (emb_dim,), initialized to ones.
        shift: nn.Parameter of shape (emb_dim,), initialized to zeros.
    """

    def __init__(self, emb_dim):
        super().__init__()
        raise NotImplementedError

    def forward(self, x):
        """Normalize each vector along the last dimension, then scale and shift.

        Args:
            x: (..., emb_dim) tensor, e.g. (b, num_tokens, emb_dim).
        Returns:
            Same shape: scale * (x - mean) / sqrt(var + eps) + shift, where mean and var are taken over the
            last dimension and var is the *biased* variance (divide by emb_dim, not emb_dim - 1).
        """
        raise NotImplementedError


class GELU(nn.Module):
    """The GELU activation in the tanh approximation GPT-2 uses (no parameters)."""

    def forward(self, x):
        """Element-wise 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3))); same shape as x."""
        raise NotImplementedError


class FeedForward(nn.Module):
    """The position-wise feed-forward network of a transformer block.

    Args:
        cfg: the model config dict; only cfg["emb_dim"] is used.

    Attributes the checks rely on:
        layers: nn.Sequential of exactly three modules, in this order:
            nn.Linear(emb_dim, 4 * emb_dim), GELU(), nn.Linear(4 * emb_dim, emb_dim)
            (so the parameters are named layers.0.weight, layers.0.bias, layers.2.weight, layers.2.bias).
    """

    def __init__(self, cfg):
        super().__init__()
        raise NotImplementedError

    def forward(self, x):
        """(b, num_tokens, emb_dim) -> (b, num_tokens, emb_dim): apply `layers`."""
        raise NotImplementedError

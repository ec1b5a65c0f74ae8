"""Reference solution for the `layers` exercise: the three small layers a GPT block is built from.

`LayerNorm` rescales each token's embedding to mean 0 and variance 1 and then applies a learned scale and
shift; `GELU` is the smooth activation GPT-2 uses (its tanh approximation); `FeedForward` widens each token's
vector four times, applies GELU and projects it back. Every layer acts on the last dimension only, so each
token is processed on its own and the input shape comes back unchanged.
"""

import math

import torch
import torch.nn as nn


class LayerNorm(nn.Module):
    """Normalize over the embedding dimension, then scale and shift (learned, one value per feature)."""

    def __init__(self, emb_dim):
        super().__init__()
        self.eps = 1e-5  # keeps the division finite when a row's variance is (almost) zero
        self.scale = nn.Parameter(torch.ones(emb_dim))  # (emb_dim,)
        self.shift = nn.Parameter(torch.zeros(emb_dim))  # (emb_dim,)

    def forward(self, x):
        mean = x.mean(dim=-1, keepdim=True)  # (..., 1)
        # Biased variance (divide by n, not n - 1), as GPT-2 and torch.nn.LayerNorm do.
        var = x.var(dim=-1, keepdim=True, unbiased=False)  # (..., 1)
        norm_x = (x - mean) / torch.sqrt(var + self.eps)  # (..., emb_dim)
        return self.scale * norm_x + self.shift  # (..., emb_dim)


class GELU(nn.Module):
    """GELU, tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))."""

    def forward(self, x):
        return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * torch.pow(x, 3))))


class FeedForward(nn.Module):
    """Position-wise MLP: Linear(emb, 4·emb) → GELU → Linear(4·emb, emb)."""

    def __init__(self, cfg):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(cfg["emb_dim"], 4 * cfg["emb_dim"]),  # widen: room to compute per-token features
            GELU(),
            nn.Linear(4 * cfg["emb_dim"], cfg["emb_dim"]),  # back to emb_dim so blocks can be stacked
        )

    def forward(self, x):
        return self.layers(x)  # (b, num_tokens, emb_dim) -> (b, num_tokens, emb_dim)

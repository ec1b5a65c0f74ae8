"""Reference solution for the `transformer_block` exercise: one GPT-2 transformer block.

Two sub-blocks, each in the pre-LayerNorm pattern: normalize, transform (masked multi-head attention, then
the feed-forward network), apply dropout, and add the sub-block's input back (the shortcut). The output has
the input's shape, so blocks can be stacked as deep as you like.
"""

import torch.nn as nn

from exercises.layers import FeedForward, LayerNorm
from exercises.multihead_attention import MultiHeadAttention


class TransformerBlock(nn.Module):
    """Pre-LayerNorm transformer block: x + drop(att(norm1(x))), then x + drop(ff(norm2(x)))."""

    def __init__(self, cfg):
        super().__init__()
        self.att = MultiHeadAttention(
            d_in=cfg["emb_dim"],
            d_out=cfg["emb_dim"],  # same width out as in, so the shortcut can be added
            context_length=cfg["context_length"],
            dropout=cfg["drop_rate"],
            num_heads=cfg["n_heads"],
            qkv_bias=cfg["qkv_bias"],
        )
        self.ff = FeedForward(cfg)
        self.norm1 = LayerNorm(cfg["emb_dim"])
        self.norm2 = LayerNorm(cfg["emb_dim"])
        self.drop_shortcut = nn.Dropout(cfg["drop_rate"])

    def forward(self, x):
        # x: (b, num_tokens, emb_dim)
        # Attention sub-block. The shortcut adds the *un-normalized* x: the residual stream itself is never
        # normalized, only what each sub-block reads from it.
        x = x + self.drop_shortcut(self.att(self.norm1(x)))  # (b, num_tokens, emb_dim)
        # Feed-forward sub-block, same pattern with its own LayerNorm.
        x = x + self.drop_shortcut(self.ff(self.norm2(x)))  # (b, num_tokens, emb_dim)
        return x

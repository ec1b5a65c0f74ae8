"""Exercise 8: the transformer block (lesson: lessons/08-transformer-block.md).

Wire your multi-head attention and the layers of exercise 7 into one pre-LayerNorm GPT-2 block.
"""

import torch.nn as nn

from exercises.layers import FeedForward, LayerNorm
from exercises.multihead_attention import MultiHeadAttention


class TransformerBlock(nn.Module):
    """One GPT-2 transformer block.

    Args:
        cfg: dict with keys "emb_dim", "context_length", "n_heads", "drop_rate", "qkv_bias" (and others the
            block does not use).

    Attributes the checks rely on (the checks copy weights by these names):
        att: MultiHeadAttention(d_in=emb_dim, d_out=emb_dim, context_length=context_length,
             dropout=drop_rate, num_heads=n_heads, qkv_bias=qkv_bias)
        ff: FeedForward(cfg)
        norm1: LayerNorm(emb_dim), the attention sub-block's norm
        norm2: LayerNorm(emb_dim), the feed-forward sub-block's norm
        drop_shortcut: nn.Dropout(drop_rate), applied to each sub-block's output before it is added back
    """

    def __init__(self, cfg):
        super().__init__()
        raise NotImplementedError

    def forward(self, x):
        """Pre-LayerNorm block with shortcut connections.

        First the attention sub-block: normalize with norm1, attend, apply drop_shortcut, add the block's
        input back. Then the feed-forward sub-block the same way, with norm2 and ff.

        Args:
            x: (b, num_tokens, emb_dim), num_tokens <= context_length.
        Returns:
            (b, num_tokens, emb_dim).
        """
        raise NotImplementedError

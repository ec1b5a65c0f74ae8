"""Exercise 3: token and positional embeddings (lesson: lessons/03-embeddings.md).

Write `GPTEmbedding`. Grade with `tutor grade embeddings`.
"""

import torch
import torch.nn as nn


class GPTEmbedding(nn.Module):
    """Turns a batch of token ids into vectors that carry both the token and its position.

    Args:
        vocab_size: number of different token ids (ids are 0 .. vocab_size-1).
        context_length: the longest sequence the model accepts (positions are 0 .. context_length-1).
        emb_dim: size of every embedding vector.

    Attributes the checks rely on (both trainable, their weights are copied from the reference):
        tok_emb: `nn.Embedding(vocab_size, emb_dim)`, one row per token id.
        pos_emb: `nn.Embedding(context_length, emb_dim)`, one row per position.
    """

    def __init__(self, vocab_size, context_length, emb_dim):
        super().__init__()
        raise NotImplementedError

    def forward(self, idx):
        """Embed a batch of token ids.

        Args:
            idx: `torch.long` tensor of shape `(batch, num_tokens)`, with `num_tokens <= context_length`.

        Returns:
            Tensor of shape `(batch, num_tokens, emb_dim)`: for every sequence in the batch, the embedding
            of the token at position `p` plus the positional embedding of position `p` (counting from 0).
        """
        raise NotImplementedError

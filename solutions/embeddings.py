"""Reference solution for the embeddings exercise: token ids -> vectors that know what and where.

A GPT reads token ids, but a neural network works on vectors. `GPTEmbedding` looks each id up in a
trainable token-embedding table, looks each position (0, 1, 2, ...) up in a trainable positional-embedding
table, and adds the two, so the same word at two places in the text gets two different vectors.
"""

import torch
import torch.nn as nn


class GPTEmbedding(nn.Module):
    """Token embeddings plus learned absolute positional embeddings."""

    def __init__(self, vocab_size, context_length, emb_dim):
        super().__init__()
        self.tok_emb = nn.Embedding(vocab_size, emb_dim)      # one row per token id
        self.pos_emb = nn.Embedding(context_length, emb_dim)  # one row per position 0 .. context_length-1

    def forward(self, idx):
        batch_size, num_tokens = idx.shape                          # (b, num_tokens)
        tok_embeds = self.tok_emb(idx)                              # (b, num_tokens, emb_dim)
        positions = torch.arange(num_tokens, device=idx.device)     # 0, 1, ..., num_tokens-1
        pos_embeds = self.pos_emb(positions)                        # (num_tokens, emb_dim)
        # Broadcasting adds the same position vectors to every sequence of the batch.
        return tok_embeds + pos_embeds                              # (b, num_tokens, emb_dim)

"""Reference solution for the `gpt_model` exercise: the whole GPT-2 architecture and greedy generation.

`GPTModel` maps token ids to next-token logits: token + position embeddings, dropout, a stack of
transformer blocks, a final LayerNorm and a linear head onto the vocabulary. `generate_text_simple` extends
a batch of token sequences by repeatedly appending the most likely next token.
"""

import torch
import torch.nn as nn

from exercises.layers import LayerNorm
from exercises.transformer_block import TransformerBlock


class GPTModel(nn.Module):
    """GPT-2: ids (b, num_tokens) → logits (b, num_tokens, vocab_size)."""

    def __init__(self, cfg):
        super().__init__()
        self.tok_emb = nn.Embedding(cfg["vocab_size"], cfg["emb_dim"])
        self.pos_emb = nn.Embedding(cfg["context_length"], cfg["emb_dim"])
        self.drop_emb = nn.Dropout(cfg["drop_rate"])
        self.trf_blocks = nn.Sequential(*[TransformerBlock(cfg) for _ in range(cfg["n_layers"])])
        self.final_norm = LayerNorm(cfg["emb_dim"])
        # Not tied to tok_emb: a separate matrix, so the 124M config counts 163,009,536 parameters.
        self.out_head = nn.Linear(cfg["emb_dim"], cfg["vocab_size"], bias=False)

    def forward(self, in_idx):
        batch_size, seq_len = in_idx.shape  # in_idx: (b, num_tokens), num_tokens <= context_length
        tok_embeds = self.tok_emb(in_idx)  # (b, num_tokens, emb_dim)
        # Positions 0..seq_len-1, created on the ids' device; broadcast over the batch.
        pos_embeds = self.pos_emb(torch.arange(seq_len, device=in_idx.device))  # (num_tokens, emb_dim)
        x = tok_embeds + pos_embeds  # (b, num_tokens, emb_dim)
        x = self.drop_emb(x)
        x = self.trf_blocks(x)  # (b, num_tokens, emb_dim)
        x = self.final_norm(x)
        logits = self.out_head(x)  # (b, num_tokens, vocab_size)
        return logits


def generate_text_simple(model, idx, max_new_tokens, context_size):
    """Greedy decoding: append the most likely next token `max_new_tokens` times.

    Args:
        model: maps ids (b, n) to logits (b, n, vocab_size).
        idx: (b, num_tokens) token ids, the prompt.
        max_new_tokens: how many tokens to append.
        context_size: the most tokens the model can read; longer inputs are cropped to the last ones.

    Returns:
        (b, num_tokens + max_new_tokens) ids: the prompt followed by the generated tokens.
    """
    for _ in range(max_new_tokens):
        idx_cond = idx[:, -context_size:]  # (b, <= context_size): keep only the most recent tokens
        with torch.no_grad():
            logits = model(idx_cond)  # (b, n, vocab_size)
        logits = logits[:, -1, :]  # (b, vocab_size): only the last position predicts the *next* token
        # softmax would not change which entry is largest, so argmax over the logits picks the same token.
        idx_next = torch.argmax(logits, dim=-1, keepdim=True)  # (b, 1)
        idx = torch.cat((idx, idx_next), dim=1)  # (b, num_tokens + 1)
    return idx

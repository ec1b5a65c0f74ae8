"""Exercise 9: the GPT model and greedy generation (lesson: lessons/09-gpt-model.md).

Stack embeddings, transformer blocks, a final norm and an output head into GPT-2, and write the simplest
text generation loop.
"""

import torch
import torch.nn as nn

from exercises.layers import LayerNorm
from exercises.transformer_block import TransformerBlock


class GPTModel(nn.Module):
    """GPT-2: token ids (b, num_tokens) -> next-token logits (b, num_tokens, vocab_size).

    Args:
        cfg: dict with keys "vocab_size", "context_length", "emb_dim", "n_heads", "n_layers", "drop_rate",
            "qkv_bias".

    Attributes the checks rely on (the checks copy weights by these names):
        tok_emb: nn.Embedding(vocab_size, emb_dim)
        pos_emb: nn.Embedding(context_length, emb_dim)
        drop_emb: nn.Dropout(drop_rate), applied to token + position embeddings
        trf_blocks: nn.Sequential of n_layers TransformerBlock(cfg), in order (names trf_blocks.0, trf_blocks.1, …)
        final_norm: LayerNorm(emb_dim)
        out_head: nn.Linear(emb_dim, vocab_size, bias=False), NOT tied to tok_emb
            (the GPT-2 124M config then has 163,009,536 parameters)
    """

    def __init__(self, cfg):
        super().__init__()
        raise NotImplementedError

    def forward(self, in_idx):
        """Token ids -> logits.

        Args:
            in_idx: (b, num_tokens) torch.long ids, num_tokens <= context_length.
        Returns:
            (b, num_tokens, vocab_size) logits: out_head(final_norm(trf_blocks(drop_emb(tok + pos)))),
            where the positions are 0, 1, …, num_tokens - 1.
        """
        raise NotImplementedError


def generate_text_simple(model, idx, max_new_tokens, context_size):
    """Greedy decoding: append the most likely next token, max_new_tokens times.

    At each step, crop the sequence to its last `context_size` tokens, run the model on it (no gradients
    needed), take the logits of the last position and append their argmax.

    Args:
        model: any module mapping ids (b, n) to logits (b, n, vocab_size).
        idx: (b, num_tokens) torch.long ids, the prompt.
        max_new_tokens: how many tokens to append.
        context_size: the most tokens the model may be given at once.
    Returns:
        (b, num_tokens + max_new_tokens) torch.long ids: the prompt followed by the new tokens.
    """
    raise NotImplementedError

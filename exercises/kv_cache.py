"""Exercise 17: a KV cache for generation (lesson: lessons/17-kv-cache.md).

Give each attention layer a cache of the keys and values it has computed, so that generation feeds
only the new token at each step, and write the greedy generator that uses it. Start from copies of
your MultiHeadAttention, TransformerBlock and GPTModel: the checks copy weights into this GPTModel by
the gpt_model exercise's parameter names, so keep every name.
"""

import torch
import torch.nn as nn

from exercises.layers import FeedForward, LayerNorm


class MultiHeadAttention(nn.Module):
    """Causal multi-head attention with a KV cache.

    Same arguments and attributes as in the multihead_attention exercise (W_query, W_key, W_value,
    out_proj, dropout, buffer mask), plus the cache: the keys and values of the tokens seen so far,
    for example as `self.cache_k` and `self.cache_v`, each (b, num_heads, past, head_dim) or None.
    """

    def __init__(self, d_in, d_out, context_length, dropout, num_heads, qkv_bias=False):
        super().__init__()
        raise NotImplementedError

    def forward(self, x, use_cache=False):
        """Attention over the new tokens `x` and, with use_cache, everything cached before them.

        Args:
            x: (b, num_tokens, d_in): the new tokens.
            use_cache: if True, append this call's keys and values to the cache and let the new
                queries attend to all cached keys too. Query i of x stands at position past + i
                (past = how many tokens were cached before this call): it may see keys 0..past+i.
        Returns:
            (b, num_tokens, d_out).
        """
        raise NotImplementedError

    def reset_cache(self):
        """Empty this layer's cache."""
        raise NotImplementedError


class TransformerBlock(nn.Module):
    """The transformer_block exercise's block (att, ff, norm1, norm2, drop_shortcut), whose forward
    passes `use_cache` on to its attention."""

    def __init__(self, cfg):
        super().__init__()
        raise NotImplementedError

    def forward(self, x, use_cache=False):
        """(b, num_tokens, emb_dim) -> (b, num_tokens, emb_dim)."""
        raise NotImplementedError


class GPTModel(nn.Module):
    """GPT-2 with a KV cache: ids (b, num_tokens) -> logits (b, num_tokens, vocab_size).

    Parameters the checks rely on, exactly as in the gpt_model exercise (a gpt_model state dict
    must load into this model): tok_emb, pos_emb, trf_blocks.{i}.* (the blocks in order; an
    nn.ModuleList lets you pass use_cache to each), final_norm, out_head (bias=False, not tied).
    """

    def __init__(self, cfg):
        super().__init__()
        raise NotImplementedError

    def forward(self, in_idx, use_cache=False):
        """Logits for the new tokens `in_idx` (b, num_tokens).

        Without the cache, the positions are 0..num_tokens-1, as in gpt_model. With use_cache=True
        the positions continue after the cached ones: past..past+num_tokens-1, where past counts the
        tokens fed with use_cache=True since the last reset_kv_cache(). Any number of new tokens may
        come at once, also after cached ones, as long as past + num_tokens <= context_length.
        """
        raise NotImplementedError

    def reset_kv_cache(self):
        """Empty every layer's cache and start the positions again from 0."""
        raise NotImplementedError


def generate_text_simple_cached(model, idx, max_new_tokens, context_size=None, use_cache=True):
    """Greedy decoding with the KV cache.

    Reset the cache first, feed the prompt (cropped to its last context_size tokens) once, then one
    new token per step. The result must be exactly the tokens of the uncached
    generate_text_simple(model, idx, max_new_tokens, context_size), also when the sequence grows
    past context_size: then the uncached generator slides its window, and the cache must be filled
    again from the last context_size tokens.

    Args:
        model: a GPTModel of this module (checks call it in eval() mode).
        idx: (b, num_tokens) torch.long prompt ids.
        max_new_tokens: how many tokens to append.
        context_size: the most tokens the model reads at once; None means the model's context
            length (the number of rows of model.pos_emb).
        use_cache: False: recompute the whole window at every step, without the cache.
    Returns:
        (b, num_tokens + max_new_tokens) torch.long ids: the prompt, then the new tokens.
    """
    raise NotImplementedError

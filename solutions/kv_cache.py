"""Reference solution for the kv_cache exercise: GPT-2 generation that reuses past keys and values.

During greedy generation every step feeds the whole window again, although the keys and values of the
old tokens are the same as last step. Here each attention layer keeps them (its KV cache) and a step
feeds only the new token: its query attends to the cached keys plus its own. The model counts how many
positions are cached, so the new token gets the position embedding of where it really stands.

The parameters have the names of the gpt_model exercise's GPTModel, so its state dict loads here.
"""

import torch
import torch.nn as nn

from exercises.layers import FeedForward, LayerNorm


class MultiHeadAttention(nn.Module):
    """Causal multi-head attention that can append each call's keys and values to a cache."""

    def __init__(self, d_in, d_out, context_length, dropout, num_heads, qkv_bias=False):
        super().__init__()
        self.d_out = d_out
        self.num_heads = num_heads
        self.head_dim = d_out // num_heads
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.out_proj = nn.Linear(d_out, d_out)
        self.dropout = nn.Dropout(dropout)
        # True above the diagonal: row i (a query's position) hides the keys after position i.
        mask = torch.triu(torch.ones(context_length, context_length, dtype=torch.bool), 1)
        self.register_buffer("mask", mask)
        # The cache: keys and values of every token seen so far, (b, num_heads, past, head_dim). They are
        # views of buffers with room for a whole window, which the new keys and values are written into.
        self.cache_k = None
        self.cache_v = None
        self.buffer_k = None
        self.buffer_v = None

    def _split_heads(self, t):
        b, num_tokens, _ = t.shape  # (b, num_tokens, d_out) -> (b, num_heads, num_tokens, head_dim)
        return t.view(b, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, x, use_cache=False):
        b, num_tokens, _ = x.shape                                 # (b, num_tokens, d_in)
        queries = self._split_heads(self.W_query(x))              # (b, heads, num_tokens, head_dim)
        keys = self._split_heads(self.W_key(x))
        values = self._split_heads(self.W_value(x))

        if use_cache:
            # Append the new tokens after the cached ones. torch.cat would copy the whole cache into a new
            # tensor at every step; writing into a buffer made once per sequence copies only the new rows.
            past = 0 if self.cache_k is None else self.cache_k.shape[2]
            if self.cache_k is None:  # (b, heads, context_length, head_dim): room for a whole window
                shape = (b, self.num_heads, self.mask.shape[0], self.head_dim)
                self.buffer_k, self.buffer_v = keys.new_empty(shape), values.new_empty(shape)
            self.buffer_k[:, :, past:past + num_tokens] = keys
            self.buffer_v[:, :, past:past + num_tokens] = values
            keys = self.buffer_k[:, :, :past + num_tokens]            # (b, heads, past + num_tokens, hd)
            values = self.buffer_v[:, :, :past + num_tokens]
            self.cache_k, self.cache_v = keys, values
        num_keys = keys.shape[2]
        past = num_keys - num_tokens  # the new queries stand at positions past .. num_keys - 1

        attn_scores = queries @ keys.transpose(2, 3)              # (b, heads, num_tokens, num_keys)
        future = self.mask[past:num_keys, :num_keys]              # the rows of the new positions
        attn_scores = attn_scores.masked_fill(future, float("-inf"))
        attn_weights = torch.softmax(attn_scores / self.head_dim**0.5, dim=-1)
        attn_weights = self.dropout(attn_weights)

        context = attn_weights @ values                           # (b, heads, num_tokens, head_dim)
        context = context.transpose(1, 2).contiguous().view(b, num_tokens, self.d_out)
        return self.out_proj(context)                             # (b, num_tokens, d_out)

    def reset_cache(self):
        self.cache_k, self.cache_v = None, None
        self.buffer_k, self.buffer_v = None, None


class TransformerBlock(nn.Module):
    """The pre-LayerNorm block of the transformer_block exercise, passing `use_cache` to attention."""

    def __init__(self, cfg):
        super().__init__()
        self.att = MultiHeadAttention(
            d_in=cfg["emb_dim"],
            d_out=cfg["emb_dim"],
            context_length=cfg["context_length"],
            dropout=cfg["drop_rate"],
            num_heads=cfg["n_heads"],
            qkv_bias=cfg["qkv_bias"],
        )
        self.ff = FeedForward(cfg)
        self.norm1 = LayerNorm(cfg["emb_dim"])
        self.norm2 = LayerNorm(cfg["emb_dim"])
        self.drop_shortcut = nn.Dropout(cfg["drop_rate"])

    def forward(self, x, use_cache=False):
        x = x + self.drop_shortcut(self.att(self.norm1(x), use_cache=use_cache))
        x = x + self.drop_shortcut(self.ff(self.norm2(x)))
        return x  # (b, num_tokens, emb_dim)


class GPTModel(nn.Module):
    """GPT-2 with a KV cache: ids (b, num_tokens) -> logits (b, num_tokens, vocab_size)."""

    def __init__(self, cfg):
        super().__init__()
        self.tok_emb = nn.Embedding(cfg["vocab_size"], cfg["emb_dim"])
        self.pos_emb = nn.Embedding(cfg["context_length"], cfg["emb_dim"])
        self.drop_emb = nn.Dropout(cfg["drop_rate"])
        # A ModuleList, not nn.Sequential: each block needs the extra argument use_cache.
        self.trf_blocks = nn.ModuleList([TransformerBlock(cfg) for _ in range(cfg["n_layers"])])
        self.final_norm = LayerNorm(cfg["emb_dim"])
        self.out_head = nn.Linear(cfg["emb_dim"], cfg["vocab_size"], bias=False)
        self.current_pos = 0  # how many positions the caches hold

    def forward(self, in_idx, use_cache=False):
        batch_size, num_tokens = in_idx.shape
        if use_cache:  # the new tokens continue after the cached ones
            pos = torch.arange(self.current_pos, self.current_pos + num_tokens, device=in_idx.device)
            self.current_pos += num_tokens
        else:
            pos = torch.arange(num_tokens, device=in_idx.device)
        x = self.tok_emb(in_idx) + self.pos_emb(pos)              # (b, num_tokens, emb_dim)
        x = self.drop_emb(x)
        for block in self.trf_blocks:
            x = block(x, use_cache=use_cache)
        x = self.final_norm(x)
        return self.out_head(x)                                   # (b, num_tokens, vocab_size)

    def reset_kv_cache(self):
        """Forget every cached key and value: the next cached call starts at position 0."""
        for block in self.trf_blocks:
            block.att.reset_cache()
        self.current_pos = 0


def generate_text_simple_cached(model, idx, max_new_tokens, context_size=None, use_cache=True):
    """Greedy decoding with the KV cache; the same tokens as uncached generate_text_simple.

    Args:
        model: a GPTModel of this module.
        idx: (b, num_tokens) prompt ids.
        max_new_tokens: how many tokens to append.
        context_size: the most tokens the model reads at once (None: its context length).
        use_cache: False recomputes the whole window every step, like generate_text_simple.

    Returns:
        (b, num_tokens + max_new_tokens) ids.
    """
    context_size = context_size or model.pos_emb.weight.shape[0]
    with torch.inference_mode():  # no_grad, and also no autograd bookkeeping on the tensors: a little faster
        if not use_cache:
            for _ in range(max_new_tokens):
                logits = model(idx[:, -context_size:])[:, -1]    # (b, vocab_size)
                idx = torch.cat([idx, logits.argmax(dim=-1, keepdim=True)], dim=1)
            return idx

        model.reset_kv_cache()  # a new prompt: nothing from an earlier one may stay cached
        new, cached = idx[:, -context_size:], 0  # the first call feeds the (cropped) prompt
        for _ in range(max_new_tokens):
            if cached + new.shape[1] > context_size:
                # The window is full: uncached generation now slides it one token forward, so every
                # position changes. Re-fill the cache from the last context_size tokens.
                model.reset_kv_cache()
                new, cached = idx[:, -context_size:], 0
            logits = model(new, use_cache=True)[:, -1]           # (b, vocab_size)
            cached += new.shape[1]
            new = logits.argmax(dim=-1, keepdim=True)            # (b, 1): the next call's input
            idx = torch.cat([idx, new], dim=1)
    return idx

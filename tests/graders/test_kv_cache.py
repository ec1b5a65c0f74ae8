"""The kv_cache grader: hand-written wrong answers fail with a useful message, other correct ways pass."""

import pytest

from tests.graders.helpers import assert_fails_saying, assert_passes, reference_source

EX = "kv_cache"
_REF = reference_source(EX)

_SLIDE = (
    "            if cached + new.shape[1] > context_size:\n"
    "                # The window is full: uncached generation now slides it one token forward, "
    "so every\n"
    "                # position changes. Re-fill the cache from the last context_size tokens.\n"
    "                model.reset_kv_cache()\n"
    "                new, cached = idx[:, -context_size:], 0\n"
)
assert _SLIDE in _REF

# name: (source, words the learner must see in the failure text)
WRONG = {
    # The generator returns only the new tokens.
    "returns-only-new-tokens": (
        _REF.replace("    context_size = context_size or model.pos_emb.weight.shape[0]\n",
                     "    context_size = context_size or model.pos_emb.weight.shape[0]\n"
                     "    prompt_len = idx.shape[1]\n")
            .replace("            idx = torch.cat([idx, new], dim=1)\n    return idx\n",
                     "            idx = torch.cat([idx, new], dim=1)\n    return idx[:, prompt_len:]\n"),
        ["Wrong shape"],
    ),
    # The next token is read from the first position of the logits.
    "first-position": (
        _REF.replace("logits = model(new, use_cache=True)[:, -1]",
                     "logits = model(new, use_cache=True)[:, 0]"),
        ["Cached and uncached tokens differ"],
    ),
    # context_size is ignored: the window is always the model's context length.
    "context-size-ignored": (
        _REF.replace("    context_size = context_size or model.pos_emb.weight.shape[0]\n",
                     "    context_size = model.pos_emb.weight.shape[0]\n"),
        ["context_size 4"],
    ),
    # The positions are offset even without the cache (the counter is used in both branches).
    "offset-without-cache": (
        _REF.replace("            pos = torch.arange(num_tokens, device=in_idx.device)\n",
                     "            pos = torch.arange(self.current_pos, self.current_pos + num_tokens,"
                     " device=in_idx.device)\n"),
        ["Values differ"],
    ),
    # The book's cache, no sliding, and a mask sliced for the first rows: crashes or differs.
    "square-mask": (
        _REF.replace("future = self.mask[past:num_keys, :num_keys]",
                     "future = self.mask[:num_tokens, :num_tokens]"),
        ["RuntimeError"],
    ),
}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_hand_written_mistake_fails(grader, name):
    src, words = WRONG[name]
    assert_fails_saying(grader, EX, src, words)


_BUFFER = (
    "            past = 0 if self.cache_k is None else self.cache_k.shape[2]\n"
    "            if self.cache_k is None:  # (b, heads, context_length, head_dim): room for a whole window\n"
    "                shape = (b, self.num_heads, self.mask.shape[0], self.head_dim)\n"
    "                self.buffer_k, self.buffer_v = keys.new_empty(shape), values.new_empty(shape)\n"
    "            self.buffer_k[:, :, past:past + num_tokens] = keys\n"
    "            self.buffer_v[:, :, past:past + num_tokens] = values\n"
    "            keys = self.buffer_k[:, :, :past + num_tokens]            # (b, heads, past + num_tokens, hd)\n"
    "            values = self.buffer_v[:, :, :past + num_tokens]\n"
)
assert _BUFFER in _REF

CORRECT = {
    # The lesson's first version: torch.cat onto the cached keys and values (no buffers).
    "torch-cat": _REF.replace(
        _BUFFER,
        "            if self.cache_k is not None:\n"
        "                keys = torch.cat([self.cache_k, keys], dim=2)\n"
        "                values = torch.cat([self.cache_v, values], dim=2)\n",
    ),
    # The book's generator: torch.no_grad() instead of inference_mode.
    "no-grad-generator": _REF.replace("    with torch.inference_mode():", "    with torch.no_grad():"),
    # Once the window is full, compute the steps without the cache.
    "uncached-after-full": _REF.replace(
        _SLIDE,
        "            if cached + new.shape[1] > context_size:\n"
        "                logits = model(idx[:, -context_size:])[:, -1]\n"
        "                new = logits.argmax(dim=-1, keepdim=True)\n"
        "                idx = torch.cat([idx, new], dim=1)\n"
        "                continue\n",
    ),
    # The book's loop shape: a forward pass after every appended token (the last one unused).
    "forward-after-last-token": _REF.replace(
        "        new, cached = idx[:, -context_size:], 0  # the first call feeds the (cropped) prompt\n"
        "        for _ in range(max_new_tokens):\n" + _SLIDE +
        "            logits = model(new, use_cache=True)[:, -1]           # (b, vocab_size)\n"
        "            cached += new.shape[1]\n"
        "            new = logits.argmax(dim=-1, keepdim=True)            # (b, 1): the next call's input\n"
        "            idx = torch.cat([idx, new], dim=1)\n",
        "        window = idx[:, -context_size:]\n"
        "        logits = model(window, use_cache=True)[:, -1]\n"
        "        cached = window.shape[1]\n"
        "        for _ in range(max_new_tokens):\n"
        "            nxt = logits.argmax(dim=-1, keepdim=True)\n"
        "            idx = torch.cat([idx, nxt], dim=1)\n"
        "            if cached + 1 > context_size:\n"
        "                model.reset_kv_cache()\n"
        "                logits = model(idx[:, -context_size:], use_cache=True)[:, -1]\n"
        "                cached = context_size\n"
        "            else:\n"
        "                logits = model(nxt, use_cache=True)[:, -1]\n"
        "                cached += 1\n",
    ),
    # A non-persistent mask built as a float -inf matrix and added to the scores.
    "additive-float-mask": _REF.replace(
        "        self.register_buffer(\"mask\", mask)\n",
        "        self.register_buffer(\"mask\", torch.zeros(mask.shape).masked_fill(mask, float(\"-inf\")),"
        " persistent=False)\n",
    ).replace(
        "        attn_scores = attn_scores.masked_fill(future, float(\"-inf\"))\n",
        "        attn_scores = attn_scores + future\n",
    ),
    # PyTorch's fused attention with an explicit boolean mask of allowed keys.
    "sdpa": _REF.replace(
        "        attn_scores = queries @ keys.transpose(2, 3)              # (b, heads, num_tokens, num_keys)\n"
        "        future = self.mask[past:num_keys, :num_keys]              # the rows of the new positions\n"
        "        attn_scores = attn_scores.masked_fill(future, float(\"-inf\"))\n"
        "        attn_weights = torch.softmax(attn_scores / self.head_dim**0.5, dim=-1)\n"
        "        attn_weights = self.dropout(attn_weights)\n\n"
        "        context = attn_weights @ values                           # (b, heads, num_tokens, head_dim)\n",
        "        allowed = ~self.mask[past:num_keys, :num_keys]\n"
        "        context = torch.nn.functional.scaled_dot_product_attention(\n"
        "            queries, keys, values, attn_mask=allowed,\n"
        "            dropout_p=self.dropout.p if self.training else 0.0)\n",
    ),
}


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_correct_alternative_passes(grader, name):
    assert_passes(grader, EX, CORRECT[name])

"""Decoding: turn text into a batch of token ids and back, and generate text with temperature,
top-k filtering and an end-of-text stop.

The model is used only through its interface, `model(idx) -> logits` of shape
`(batch, num_tokens, vocab_size)`. Nothing here trains the model or changes its mode.
"""
import torch


def text_to_token_ids(text, tokenizer):
    """Encode `text` into a batch of one sequence: a `(1, num_tokens)` `torch.long` tensor.

    `<|endoftext|>` in the text is allowed and becomes its single special token.
    """
    encoded = tokenizer.encode(text, allowed_special={"<|endoftext|>"})
    return torch.tensor(encoded, dtype=torch.long).unsqueeze(0)  # (1, num_tokens)


def token_ids_to_text(token_ids, tokenizer):
    """Decode a `(1, num_tokens)` batch of one sequence back into a string."""
    flat = token_ids.squeeze(0)  # (num_tokens,)
    return tokenizer.decode(flat.tolist())


def generate(model, idx, max_new_tokens, context_size, temperature=0.0, top_k=None, eos_id=None):
    """Append up to `max_new_tokens` tokens to `idx`, one at a time.

    Args:
        model: maps `(batch, num_tokens)` ids to `(batch, num_tokens, vocab_size)` logits.
        idx: the prompt, `(batch, num_tokens)` token ids.
        context_size: the longest window the model accepts; only the last `context_size` tokens
            are fed to it.
        temperature: `0.0` picks the most likely token (greedy); `> 0` samples from
            `softmax(logits / temperature)`.
        top_k: if set, only the `top_k` highest logits stay candidates (the others become -inf).
        eos_id: if set, generation stops when the next token equals it; that token is not
            appended (meant for batch size 1).

    Returns:
        `(batch, num_tokens + new)` token ids, the prompt included.
    """
    for _ in range(max_new_tokens):
        idx_cond = idx[:, -context_size:]  # (b, <= context_size)
        with torch.no_grad():
            logits = model(idx_cond)  # (b, n, vocab_size)
        logits = logits[:, -1, :]  # (b, vocab_size): only the last position predicts the next token

        if top_k is not None:
            top_logits, _ = torch.topk(logits, top_k)  # (b, top_k), sorted high to low
            min_val = top_logits[:, -1:]  # (b, 1): the k-th largest logit
            # -inf becomes probability exactly 0 after the softmax.
            logits = torch.where(logits < min_val, torch.full_like(logits, float("-inf")), logits)

        if temperature > 0.0:
            logits = logits / temperature  # scale BEFORE the softmax: < 1 sharpens, > 1 flattens
            probs = torch.softmax(logits, dim=-1)  # (b, vocab_size)
            idx_next = torch.multinomial(probs, num_samples=1)  # (b, 1)
        else:
            idx_next = torch.argmax(logits, dim=-1, keepdim=True)  # (b, 1)

        if eos_id is not None and idx_next.item() == eos_id:  # .item(): batch size 1 only
            break
        idx = torch.cat((idx, idx_next), dim=1)  # (b, num_tokens + 1)
    return idx

"""Exercise 12: text ↔ token ids, and generation with temperature, top-k and a stop token
(lesson: lessons/12-decoding.md).

The model is used only through `model(idx) -> logits`: `idx` is a `(batch, num_tokens)` tensor of
token ids and the logits have shape `(batch, num_tokens, vocab_size)`.
"""
import torch


def text_to_token_ids(text, tokenizer):
    """Encode `text` with `tokenizer` (e.g. `tiktoken.get_encoding("gpt2")`) into a batch of one.

    Pass `allowed_special={"<|endoftext|>"}` to `tokenizer.encode`.

    Returns:
        A `(1, num_tokens)` `torch.long` tensor.
    """
    raise NotImplementedError


def token_ids_to_text(token_ids, tokenizer):
    """Decode a `(1, num_tokens)` tensor of token ids back into a string.

    Returns:
        `tokenizer.decode` of the ids as a list of Python ints.
    """
    raise NotImplementedError


def generate(model, idx, max_new_tokens, context_size, temperature=0.0, top_k=None, eos_id=None):
    """Append up to `max_new_tokens` tokens to `idx`, one at a time.

    At each step: feed the model only the last `context_size` tokens; take the logits of the LAST
    position, `(batch, vocab_size)`; then
      - if `top_k` is set, keep the `top_k` largest logits and set all others to `-inf`;
      - if `temperature > 0`, sample the next token from `softmax(logits / temperature)`
        (`torch.multinomial`); otherwise take the `argmax` (greedy);
      - if `eos_id` is set and the next token equals it, stop WITHOUT appending it (this case is
        only used, and only checked, with batch size 1);
      - else append the token to `idx`.

    Args:
        model: maps `(batch, num_tokens)` ids to `(batch, num_tokens, vocab_size)` logits.
        idx: the prompt, `(batch, num_tokens)` `torch.long`.
        max_new_tokens: the most tokens to add.
        context_size: the longest window the model accepts.
        temperature: `0.0` (greedy) or a positive number.
        top_k: `None` or a number of candidates to keep.
        eos_id: `None` or the token id that ends generation.

    Returns:
        `(batch, num_tokens + new)` token ids, the prompt included.

    The checks test sampling by the frequencies of many draws, never by exact random numbers, so
    any correct way to sample passes.
    """
    raise NotImplementedError

"""The decoding grader: passes the reference, recognises the stub, fails realistic mistakes, and passes
correct answers that sample in another way (sampling is checked by distribution, not seed for seed)."""

import pytest

from tests.graders.helpers import assert_fails_saying, assert_passes, reference_source

EX = "decoding"


_REF = reference_source(EX)
_TOP_K = ('            top_logits, _ = torch.topk(logits, top_k)  # (b, top_k), sorted high to low\n'
          '            min_val = top_logits[:, -1:]  # (b, 1): the k-th largest logit\n'
          '            # -inf becomes probability exactly 0 after the softmax.\n'
          '            logits = torch.where(logits < min_val, torch.full_like(logits, float("-inf")), logits)\n')
_SAMPLE = ('            probs = torch.softmax(logits, dim=-1)  # (b, vocab_size)\n'
           '            idx_next = torch.multinomial(probs, num_samples=1)  # (b, 1)\n')
_EOS = "        if eos_id is not None and idx_next.item() == eos_id:  # .item(): batch size 1 only\n"

# name: (source, words the learner must see in the failure text)
WRONG = {
    # The softmax over the batch instead of the vocabulary.
    "softmax-over-batch": (
        _REF.replace("probs = torch.softmax(logits, dim=-1)", "probs = torch.softmax(logits, dim=0)"),
        ["Values differ", "sampl"],
    ),
    # Always sampling, even at temperature 0: division by zero, then multinomial refuses the probabilities.
    "always-sample": (
        _REF.replace("        if temperature > 0.0:\n", "        if True:\n"),
        ["exercises/decoding.py line", "multinomial"],
    ),
    # topk(largest=False): the threshold is the k-th SMALLEST logit.
    "top-k-smallest": (
        _REF.replace("torch.topk(logits, top_k)", "torch.topk(logits, top_k, largest=False)"),
        ["top_k"],
    ),
    # tokenizer.encode without allowed_special: tiktoken refuses <|endoftext|>.
    "no-allowed-special": (
        _REF.replace('tokenizer.encode(text, allowed_special={"<|endoftext|>"})', "tokenizer.encode(text)"),
        ["ValueError", "exercises/decoding.py line"],
    ),
    # argmax without keepdim: a (b,) tensor cannot be concatenated to (b, T).
    "argmax-no-keepdim": (
        _REF.replace("torch.argmax(logits, dim=-1, keepdim=True)", "torch.argmax(logits, dim=-1)"),
        ["exercises/decoding.py line", "torch.cat"],
    ),
    # Only the new tokens are returned, without the prompt.
    "new-tokens-only": (
        _REF.replace("    for _ in range(max_new_tokens):\n",
                     "    prompt_len = idx.shape[1]\n    for _ in range(max_new_tokens):\n")
            .replace("        idx = torch.cat((idx, idx_next), dim=1)  # (b, num_tokens + 1)\n    return idx\n",
                     "        idx = torch.cat((idx, idx_next), dim=1)\n    return idx[:, prompt_len:]\n"),
        ["shape"],
    ),
    # int32 token ids.
    "int32-ids": (
        _REF.replace("torch.tensor(encoded, dtype=torch.long)", "torch.tensor(encoded, dtype=torch.int32)"),
        ["dtype"],
    ),
}

# Correct answers written differently from the reference: they must pass.
ALTERNATIVES = {
    # Temperature first, top-k by scatter, sampling with torch.distributions, eos compared as a tensor.
    "categorical-scatter": (
        _REF.replace(_TOP_K,
                     "            top_logits, top_pos = logits.topk(top_k, dim=-1)\n"
                     "            logits = torch.full_like(logits, float('-inf')).scatter(-1, top_pos, top_logits)\n")
            .replace(_SAMPLE,
                     "            dist = torch.distributions.Categorical(logits=logits)\n"
                     "            idx_next = dist.sample().unsqueeze(-1)\n")
            .replace(_EOS, "        if idx_next == eos_id:\n")
    ),
    # Sampling by inverse CDF with torch.rand: other random numbers, same distribution.
    "inverse-cdf": (
        _REF.replace(_SAMPLE,
                     "            probs = torch.softmax(logits, dim=-1)\n"
                     "            u = torch.rand(probs.shape[0], 1)\n"
                     "            idx_next = (probs.cumsum(dim=-1) < u).sum(dim=-1, keepdim=True)\n"
                     "            idx_next = idx_next.clamp(max=probs.shape[-1] - 1)\n")
    ),
}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_hand_written_mistake_fails(grader, name):
    src, words = WRONG[name]
    assert_fails_saying(grader, EX, src, words, with_check_names=True)


@pytest.mark.parametrize("name", sorted(ALTERNATIVES))
def test_correct_alternative_passes(grader, name):
    assert_passes(grader, EX, ALTERNATIVES[name])


def test_the_books_one_dimensional_top_k_threshold_is_named_with_its_fix(grader):
    from tests.graders.helpers import grade_source, mistake_sources

    r = grade_source(grader, EX, dict(mistake_sources(EX))["top-k-threshold-1d"])
    assert r.status == "failed" and r.diagnosed("top-k-threshold-1d"), r.summary()
    text = r.failure_text()
    assert "top_logits[:, -1:]" in text and "one value per row" in text, r.summary()
    assert "lessons/12-decoding.md#one-threshold-per-row" in text, r.summary()

"""Hidden checks for the decoding exercise (lessons/12-decoding.md).

`generate` is run on small stand-in models with GPT's interface (ids (b, T) -> logits (b, T, vocab)):
a bigram table (the next token's logits depend on the current token only) and a model that reads its
whole window (the logits depend on every token it is fed, so cropping mistakes show). Greedy output is
compared token for token. Sampling is compared by its distribution only: thousands of rows in one batch
each draw one token, and the frequencies must match the reference's within a generous tolerance, so any
correct way to sample passes. `eos_id` is checked with batch size 1 only.
"""

import tiktoken
import torch

import tutor.checks._common as std
from tutor.grading.framework import CheckFailed, Suite, describe_tensor

suite = Suite("decoding")

# Two rows of next-token logits, chosen so that temperature and top-k change the distribution a lot.
SAMPLING_ROWS = torch.tensor([
    [2.0, 1.0, 0.5, 0.0, -0.5, -1.0],
    [-1.0, 0.5, 1.5, 0.0, 1.0, -0.5],
])
# Draws per prompt: a frequency's standard deviation is at most 0.0091, the difference of two runs' at most
# 0.013, so FREQ_ATOL is > 4.5 of those; every known sampling mistake moves some frequency by >= 0.12.
DRAWS = 3000
FREQ_ATOL = 0.06


class BigramLM(torch.nn.Module):
    """The next token's logits are row `idx` of a table: logits (b, T, vocab) = table[idx]."""

    def __init__(self, table):
        super().__init__()
        self.table = torch.nn.Parameter(table.clone())

    def forward(self, idx):
        return self.table[idx]  # (b, T, vocab)


class WindowLM(torch.nn.Module):
    """Position t's logits depend on the sum of the embeddings of tokens 0..t of the window it is fed."""

    def __init__(self, seed, vocab_size=9, emb_dim=6):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.emb = torch.nn.Parameter(torch.randn(vocab_size, emb_dim, generator=gen))
        self.head = torch.nn.Parameter(torch.randn(emb_dim, vocab_size, generator=gen))

    def forward(self, idx):
        x = self.emb[idx].cumsum(dim=1)  # (b, T, emb): causal, and the start of the window matters
        return x @ self.head  # (b, T, vocab)


def _random_bigram(seed, vocab_size=8):
    gen = torch.Generator().manual_seed(seed)
    return BigramLM(torch.randn(vocab_size, vocab_size, generator=gen) * 2)


def _sample_frequencies(impl, temperature, top_k=None):
    """How often each token was drawn as the first new token, after prompts ending in token 0 and in token 1."""
    torch.manual_seed(1234)
    table = torch.zeros(6, 6)
    table[:, 3] = 3.0  # rows never used by a correct answer: peaked, so they do not look like other mistakes
    table[:2] = SAMPLING_ROWS  # the prompts end in token 0 or 1: only these rows give the new token
    model = BigramLM(table)
    prompts = torch.tensor([[3, 0], [3, 1]]).repeat(DRAWS, 1)  # (2 * DRAWS, 2), rows alternate the two prompts
    out = _top_k_generate(impl, model, prompts, max_new_tokens=1, context_size=4, temperature=temperature,
                          top_k=top_k)
    if not torch.is_tensor(out) or tuple(out.shape) != (2 * DRAWS, 3):
        shape = tuple(out.shape) if torch.is_tensor(out) else type(out).__name__
        raise CheckFailed(f"generate with a ({2 * DRAWS}, 2) prompt and max_new_tokens=1 should return shape "
                          f"({2 * DRAWS}, 3), got {shape}.")
    nxt = out[:, -1].long()
    vocab = SAMPLING_ROWS.shape[1]
    return {f"frequencies of the {DRAWS} tokens sampled after token {i}":
            torch.bincount(nxt[i::2], minlength=vocab)[:vocab].float() / DRAWS for i in range(2)}


# -- known mistakes --------------------------------------------------------------------------------------
suite.mistake(
    "temperature-after-softmax",
    "The samples follow softmax(logits), as if the temperature were 1: the temperature is applied after the "
    "softmax (dividing probabilities by T only rescales them, and multinomial renormalizes) or not at all. "
    "Divide the logits by T, then take the softmax.",
    lesson="#temperature",
    replace=[("            logits = logits / temperature  # scale BEFORE the softmax: < 1 sharpens, > 1 flattens\n"
              "            probs = torch.softmax(logits, dim=-1)  # (b, vocab_size)\n",
              "            probs = torch.softmax(logits, dim=-1) / temperature\n")],
)
suite.mistake(
    "temperature-multiplied",
    "The logits are multiplied by the temperature; divide them by it (T > 1 must flatten the distribution).",
    lesson="#temperature",
    replace=[("logits = logits / temperature", "logits = logits * temperature")],
)
suite.mistake(
    "top-k-wrong-side",
    "Top-k keeps the wrong side: the logits BELOW the k-th largest must become -inf, the top k stay.",
    lesson="#top-k-filtering",
    replace=[("torch.where(logits < min_val,", "torch.where(logits > min_val,")],
)
suite.mistake(
    "top-k-off-by-one",
    "Top-k drops the k-th largest logit too (<= instead of <), so only k - 1 candidates remain.",
    lesson="#top-k-filtering",
    replace=[("torch.where(logits < min_val,", "torch.where(logits <= min_val,")],
)
suite.mistake(
    "top-k-threshold-1d",
    "The top-k threshold drops the batch dimension: top_logits[:, -1] has shape (batch,), which does not "
    "broadcast against the (batch, vocab_size) logits once there is more than one prompt. The threshold must "
    "keep one value per row: top_logits[:, -1:].",
    lesson="#one-threshold-per-row",
    replace=[("min_val = top_logits[:, -1:]", "min_val = top_logits[:, -1]")],
)
suite.mistake(
    "top-k-masked-with-zero",
    "Top-k sets the removed logits to 0 instead of -inf, so they keep exp(0) = 1 of weight after the softmax.",
    lesson="#top-k-filtering",
    replace=[('torch.full_like(logits, float("-inf"))', "torch.zeros_like(logits)")],
)
suite.mistake(
    "eos-ignored",
    "Generation goes on after the model produced eos_id; stop as soon as the next token equals eos_id.",
    lesson="#stopping-at-the-end-of-text",
    replace=[("        if eos_id is not None and idx_next.item() == eos_id:  # .item(): batch size 1 only\n"
              "            break\n", "")],
)
suite.mistake(
    "eos-appended",
    "The eos token is appended before stopping; stop without appending it.",
    lesson="#stopping-at-the-end-of-text",
    replace=[("        if eos_id is not None and idx_next.item() == eos_id:  # .item(): batch size 1 only\n"
              "            break\n"
              "        idx = torch.cat((idx, idx_next), dim=1)  # (b, num_tokens + 1)\n",
              "        idx = torch.cat((idx, idx_next), dim=1)\n"
              "        if eos_id is not None and idx_next.item() == eos_id:\n"
              "            break\n")],
)
suite.mistake(
    "crop-wrong-end",
    "The context keeps the FIRST context_size tokens; the model must see the last ones, idx[:, -context_size:].",
    lesson="#putting-it-together",
    replace=[("idx_cond = idx[:, -context_size:]", "idx_cond = idx[:, :context_size]")],
)
suite.mistake(
    "no-crop",
    "The whole sequence is fed to the model; crop it to the last context_size tokens first.",
    lesson="#putting-it-together",
    replace=[("idx_cond = idx[:, -context_size:]", "idx_cond = idx")],
)
suite.mistake(
    "first-position-logits",
    "The next token is chosen from the logits of the first position; only the last position predicts it.",
    lesson="#putting-it-together",
    replace=[("logits = logits[:, -1, :]", "logits = logits[:, 0, :]")],
)
suite.mistake(
    "no-batch-dim",
    "text_to_token_ids returns a 1-D tensor; add the batch dimension with unsqueeze(0): shape (1, num_tokens).",
    lesson="#text-in-text-out",
    replace=[("torch.tensor(encoded, dtype=torch.long).unsqueeze(0)", "torch.tensor(encoded, dtype=torch.long)")],
)


def _top_k_generate(impl, model, idx, **kwargs):
    """`impl.generate(model, idx, **kwargs)` with top_k set; a shape error on a batch that a single prompt does
    not raise is the 1-D threshold, and says so."""
    try:
        return impl.generate(model, idx, **kwargs)
    except RuntimeError as e:
        if idx.shape[0] > 1:
            try:
                impl.generate(model, idx[:1], **kwargs)
            except Exception:
                raise e from None
            raise CheckFailed(
                f"generate with top_k={kwargs.get('top_k')} works on one prompt but raises on a batch of "
                f"{idx.shape[0]}: {type(e).__name__}: {str(e).splitlines()[0][:200]}{std.learner_line(e, impl)}\n"
                "The threshold must keep one value per row: top_logits[:, -1:] has shape (batch, 1), while "
                "top_logits[:, -1] has shape (batch,) and lines up with the vocabulary axis instead.",
                diagnosis="top-k-threshold-1d",
            ) from e
        raise


# -- checks ------------------------------------------------------------------------------------------------
@suite.compare("text_to_token_ids encodes text into a (1, num_tokens) tensor", lesson="#text-in-text-out")
def check_text_to_token_ids(impl):
    tok = tiktoken.get_encoding("gpt2")
    texts = ["Every effort moves you", "The keeper lit the lamp.<|endoftext|>The end"]
    return {repr(t): impl.text_to_token_ids(t, tok) for t in texts}


@suite.compare("token_ids_to_text decodes a (1, num_tokens) tensor", lesson="#text-in-text-out")
def check_token_ids_to_text(impl):
    tok = tiktoken.get_encoding("gpt2")
    ids = [[6109, 3626, 6100, 345], [464, 28356, 6578, 262, 20450, 13, 50256]]
    return {f"torch.tensor([{i}])": impl.token_ids_to_text(torch.tensor([i]), tok) for i in ids}


@suite.compare("greedy generate (temperature 0) matches the reference", lesson="#putting-it-together")
def check_greedy(impl):
    outs = {}
    for seed, prompt, steps in ((0, [[1, 2], [3, 4], [5, 0]], 6), (1, [[7]], 9)):
        outs[f"prompt {prompt}, max_new_tokens={steps}"] = impl.generate(
            _random_bigram(seed), torch.tensor(prompt), max_new_tokens=steps, context_size=4)
    return outs


@suite.compare("greedy generate crops the context to the last context_size tokens", lesson="#putting-it-together")
def check_greedy_window(impl):
    outs = {}
    for seed in (2, 3):
        gen = torch.Generator().manual_seed(seed)
        prompt = torch.randint(0, 9, (2, 5), generator=gen)
        outs[f"prompt {prompt.tolist()}, context_size=3"] = impl.generate(WindowLM(seed), prompt, max_new_tokens=6,
                                                                         context_size=3)
    return outs


@suite.compare("greedy generate with top_k picks the same tokens as plain greedy", lesson="#top-k-filtering")
def check_greedy_top_k(impl):
    return _top_k_generate(impl, _random_bigram(4), torch.tensor([[0], [2], [6]]), max_new_tokens=5,
                           context_size=4, temperature=0.0, top_k=3)


@suite.compare("sampling at temperature 2 follows softmax(logits / 2)", lesson="#temperature",
               atol=FREQ_ATOL, rtol=0.0)
def check_sampling_t2(impl):
    return _sample_frequencies(impl, temperature=2.0)


@suite.compare("top_k=3 at temperature 1 samples only among the 3 largest logits", lesson="#top-k-filtering",
               atol=FREQ_ATOL, rtol=0.0)
def check_sampling_top_k(impl):
    return _sample_frequencies(impl, temperature=1.0, top_k=3)


@suite.compare("top_k=3 at temperature 2 samples among the 3 largest logits, from softmax(logits / 2)",
               lesson="#top-k-filtering", atol=FREQ_ATOL, rtol=0.0)
def check_sampling_top_k_t2(impl):
    return _sample_frequencies(impl, temperature=2.0, top_k=3)


@suite.compare("greedy generate stops at eos_id without appending it (batch size 1)",
               lesson="#stopping-at-the-end-of-text")
def check_eos_greedy(impl):
    # Greedy path from token 0: 0 -> 1 -> 2 -> 3 (eos) -> 0 -> …
    table = torch.full((5, 5), -2.0)
    for cur, nxt in ((0, 1), (1, 2), (2, 3), (3, 0), (4, 0)):
        table[cur, nxt] = 2.0
    model = BigramLM(table)
    prompt = torch.tensor([[4, 0]])
    return {
        "prompt [[4, 0]], eos_id=3": impl.generate(model, prompt, max_new_tokens=8, context_size=4, eos_id=3),
        "prompt [[4, 0]], eos_id=None": impl.generate(model, prompt, max_new_tokens=8, context_size=4, eos_id=None),
        "prompt [[4, 0]], eos_id=4 (never generated)": impl.generate(model, prompt, max_new_tokens=8,
                                                                     context_size=4, eos_id=4),
        "prompt [[2]], eos_id=3 (the first new token)": impl.generate(model, torch.tensor([[2]]), max_new_tokens=5,
                                                                      context_size=4, eos_id=3),
    }


@suite.compare("sampling generate stops at eos_id without appending it (batch size 1)",
               lesson="#stopping-at-the-end-of-text")
def check_eos_sampling(impl):
    # Each row has one likely next token (probability 1 - 6e-9 at temperature 1): 0 -> 1 -> 2 (eos) -> 0.
    # So the outcome is practically certain, and no top-k here: a wrong top-k would make it random.
    table = torch.full((4, 4), -20.0)
    table[0, 1] = table[1, 2] = table[2, 0] = table[3, 0] = 0.0
    model = BigramLM(table)
    torch.manual_seed(99)
    return {"prompt [[3, 0]], temperature=1, eos_id=2": impl.generate(
                model, torch.tensor([[3, 0]]), max_new_tokens=6, context_size=4, temperature=1.0, eos_id=2),
            "prompt [[1]], temperature=1, eos_id=2": impl.generate(
                model, torch.tensor([[1]]), max_new_tokens=6, context_size=4, temperature=1.0, eos_id=2)}


@suite.check("generate returns the prompt followed by the new tokens, as torch.long", lesson="#putting-it-together")
def check_prompt_kept(learner):
    prompt = torch.tensor([[1, 2, 3], [4, 5, 6]])
    out = learner.generate(_random_bigram(5), prompt.clone(), max_new_tokens=4, context_size=2)
    if not torch.is_tensor(out):
        raise CheckFailed(f"generate should return a tensor, got {type(out).__name__}.")
    if tuple(out.shape) != (2, 7):
        raise CheckFailed(f"generate with a (2, 3) prompt and max_new_tokens=4 should return shape (2, 7), "
                          f"got {tuple(out.shape)}: {describe_tensor(out)}.")
    if out.dtype != torch.long:
        raise CheckFailed(f"generate should return token ids as torch.long, got {out.dtype}.")
    if not torch.equal(out[:, :3], prompt):
        raise CheckFailed(f"The output should start with the prompt {prompt.tolist()}, got {out[:, :3].tolist()}.")


@suite.check("top_k keeps one threshold per row: a batch of prompts gives each row its own top k",
             lesson="#one-threshold-per-row")
def check_top_k_per_row(learner):
    # Two prompts whose rows have different k-th largest logits: a shared threshold would cut the wrong tokens.
    table = torch.tensor([[4.0, 3.0, 2.0, 1.0, 0.0, -1.0, -2.0],
                          [-2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0]] + [[0.0] * 7] * 5)
    model = BigramLM(table)
    prompts = torch.tensor([[0], [1]]).repeat(300, 1)  # (600, 1)
    torch.manual_seed(7)
    out = _top_k_generate(learner, model, prompts, max_new_tokens=1, context_size=4, temperature=1.0, top_k=2)
    if not torch.is_tensor(out) or tuple(out.shape) != (600, 2):
        shape = tuple(out.shape) if torch.is_tensor(out) else type(out).__name__
        raise CheckFailed(f"generate with a (600, 1) prompt and max_new_tokens=1 should return shape (600, 2), "
                          f"got {shape}.")
    for row, allowed in ((0, {0, 1}), (1, {5, 6})):
        drawn = set(out[row::2, -1].tolist())
        if not drawn <= allowed:
            raise CheckFailed(
                f"With top_k=2, prompts ending in token {row} may only continue with tokens {sorted(allowed)} (the "
                f"two largest logits of that row), but generate also drew {sorted(drawn - allowed)}. Each row "
                "needs its own threshold: top_logits[:, -1:], shape (batch, 1)."
            )

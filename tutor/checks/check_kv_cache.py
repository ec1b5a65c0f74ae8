"""Hidden checks for the kv_cache exercise (lessons/17-kv-cache.md): cached forward passes and generation.

Every model here is the module's GPTModel with the parameters of a reference gpt_model GPTModel (the
sibling `exercises.gpt_model` is the reference's while grading), in eval() mode.
"""

import torch

import tutor.checks._common as std
from tutor.grading.framework import CheckFailed, Suite, randomize_norms

suite = Suite("kv_cache")

# -- known mistakes --------------------------------------------------------------------------------------
suite.mistake(
    "positions-not-offset",
    "With use_cache=True the positions start at 0 again on every call; they must continue after the "
    "cached tokens: torch.arange(past, past + num_tokens).",
    lesson="#the-position-offset",
    replace=[("pos = torch.arange(self.current_pos, self.current_pos + num_tokens, "
              "device=in_idx.device)",
              "pos = torch.arange(num_tokens, device=in_idx.device)")],
)
suite.mistake(
    "cache-not-reset",
    "generate_text_simple_cached does not reset the cache before feeding the prompt, so the keys and "
    "values of an earlier prompt are still attended to: call model.reset_kv_cache() first.",
    lesson="#resetting-the-cache",
    replace=[("        model.reset_kv_cache()\n        new, cached = idx[:, -context_size:], 0\n",
              "        new, cached = idx[:, -context_size:], 0\n")],
)
suite.mistake(
    "reset-keeps-keys-values",
    "reset_kv_cache() starts the positions from 0 again but leaves the keys and values in the "
    "attention layers; it must empty every layer's cache too.",
    lesson="#resetting-the-cache",
    replace=[("        for block in self.trf_blocks:\n            block.att.reset_cache()\n", "")],
)
suite.mistake(
    "cache-replaced",
    "Each cached call replaces the cache with the new keys and values instead of appending them "
    "(torch.cat along the token axis), so a new token sees only itself.",
    lesson="#caching-keys-and-values",
    replace=[("keys = self.buffer_k[:, :, :past + num_tokens]", "keys = keys"),
             ("values = self.buffer_v[:, :, :past + num_tokens]", "values = values")],
)
suite.mistake(
    "mask-not-offset",
    "The causal mask is not offset by the cached length: the rows of the new queries are "
    "mask[past:past + num_tokens, :past + num_tokens], not mask[:num_tokens, ...].",
    lesson="#the-causal-mask-with-a-cache",
    replace=[("future = self.mask[past:num_keys, :num_keys]",
              "future = self.mask[:num_tokens, :num_keys]")],
)
suite.mistake(
    "no-sliding-window",
    "Once prompt and new tokens fill the context, the cache keeps growing past context_length "
    "(the course book's version): uncached generation slides its window, so the cached one must "
    "re-fill its cache from the last context_size tokens.",
    lesson="#when-the-window-is-full",
    replace=[("            if cached + new.shape[1] > context_size:\n"
              "                # The window is full: uncached generation now slides it one token "
              "forward, so every\n"
              "                # position changes. Re-fill the cache from the last context_size "
              "tokens.\n"
              "                model.reset_kv_cache()\n"
              "                new, cached = idx[:, -context_size:], 0\n", "")],
)

CFG = {"vocab_size": 60, "context_length": 8, "emb_dim": 12, "n_heads": 2, "n_layers": 2,
       "drop_rate": 0.1, "qkv_bias": False}
CFG_B = {"vocab_size": 97, "context_length": 6, "emb_dim": 8, "n_heads": 2, "n_layers": 1,
         "drop_rate": 0.0, "qkv_bias": True}

def _source_model(cfg, seed):
    """A reference gpt_model GPTModel (random norms too), built once per grading run and only ever read."""
    from exercises.gpt_model import GPTModel  # the reference's while grading

    key = ("gpt_model", tuple(sorted(cfg.items())))
    return std.shared_source(suite, key, lambda _: GPTModel(cfg), seed=seed, init=randomize_norms).eval()


def _model(impl, cfg, seed):
    """The module's GPTModel holding `_source_model(cfg, seed)`'s parameters, in eval() mode."""
    return std.copy_from(_source_model(cfg, seed), impl.GPTModel(cfg), reseed=seed + 1000).eval()


def _ids(cfg, shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, cfg["vocab_size"], shape, generator=g)


def _chunks(model, ids, sizes, reset=True):
    """Reset, then feed `ids` with use_cache=True in chunks of `sizes` tokens; the logits per call."""
    if reset:
        model.reset_kv_cache()
    outs, start = [], 0
    with torch.no_grad():
        for n in sizes:
            outs.append(model(ids[:, start:start + n], use_cache=True))
            start += n
    return outs


def _uncached_generate(model, idx, max_new_tokens, context_size):
    from exercises.gpt_model import generate_text_simple  # the reference's while grading

    return generate_text_simple(model, idx, max_new_tokens, context_size)


# -- compare-checks: the model --------------------------------------------------------------------------
@suite.compare("GPTModel has gpt_model's parameters (tok_emb, pos_emb, trf_blocks.*, final_norm, "
               "out_head)", lesson="#the-exercise")
def check_parameter_shapes(impl):
    torch.manual_seed(0)
    return {name: list(p.shape) for name, p in impl.GPTModel(CFG).named_parameters()}


@suite.compare("Without the cache, the logits are gpt_model's (a gpt_model's weights loaded)",
               lesson="#the-exercise")
def check_uncached_logits(impl):
    outs = []
    for seed, cfg, shape in [(1, CFG, (2, 8)), (2, CFG, (3, 5)), (3, CFG_B, (2, 6))]:
        with torch.no_grad():
            outs.append(_model(impl, cfg, seed)(_ids(cfg, shape, seed)))
    return outs


@suite.compare("A call without the cache after cached calls ignores the cache (positions from 0)",
               lesson="#the-position-offset")
def check_uncached_after_cached(impl):
    m = _model(impl, CFG, 15)
    _chunks(m, _ids(CFG, (2, 2), 150), [2])
    with torch.no_grad():
        return m(_ids(CFG, (2, 6), 151))


@suite.compare("Prompt, then one token per call with use_cache=True: the logits of the uncached model",
               lesson="#caching-keys-and-values")
def check_cached_one_by_one(impl):
    outs = []
    for seed, cfg, prompt in [(4, CFG, 3), (5, CFG_B, 1)]:
        ids = _ids(cfg, (2, cfg["context_length"]), seed)
        sizes = [prompt] + [1] * (cfg["context_length"] - prompt)
        # A fresh model starts with an empty cache at position 0, also before any reset_kv_cache().
        outs.append(_chunks(_model(impl, cfg, seed), ids, sizes, reset=seed != 4))
    return outs


@suite.compare("Several new tokens per call after cached ones (chunks of 3, 2 and 3 tokens)",
               lesson="#the-causal-mask-with-a-cache")
def check_cached_chunks(impl):
    ids = _ids(CFG, (2, 8), 6)
    return _chunks(_model(impl, CFG, 6), ids, [3, 2, 3])


@suite.compare("reset_kv_cache() forgets the previous prompt", lesson="#resetting-the-cache")
def check_reset(impl):
    m = _model(impl, CFG, 7)
    # Short prompts, so that a cache that was not emptied still fits in the context (no crash).
    _chunks(m, _ids(CFG, (2, 3), 70), [3])
    return _chunks(m, _ids(CFG, (2, 5), 71), [3, 1, 1])


# -- compare-checks: generation -------------------------------------------------------------------------
WITHIN_WINDOW = [((1, 3), 5, None), ((2, 1), 7, 8), ((2, 4), 0, None)]


def _generate_all(impl, cases, seed):
    m = _model(impl, CFG, seed)
    out = []
    for i, (shape, new, context_size) in enumerate(cases):
        idx = _ids(CFG, shape, seed * 10 + i)
        out.append(impl.generate_text_simple_cached(m, idx, new, context_size))
    return out


@suite.compare("generate_text_simple_cached while prompt and new tokens fit in the window",
               lesson="#generating-with-the-cache")
def check_generate_within_window(impl):
    return _generate_all(impl, WITHIN_WINDOW, seed=8)


@suite.compare("generate_text_simple_cached past the window (it must slide like the uncached one)",
               lesson="#when-the-window-is-full")
def check_generate_past_window(impl):
    cases = [((1, 3), 12, None), ((2, 5), 9, None), ((1, 11), 4, None), ((2, 2), 10, 5)]
    try:
        return _generate_all(impl, cases, seed=9)
    except (IndexError, RuntimeError) as e:
        try:
            _generate_all(impl, WITHIN_WINDOW, seed=8)
        except Exception:
            raise e from None  # it fails inside the window too: not this mistake
        raise CheckFailed(
            f"Generating past the window raised {type(e).__name__}: {e}{std.learner_line(e, impl)}\n"
            f"(context_length {CFG['context_length']}; e.g. a 3-token prompt and 12 new tokens). "
            "Generation that fits in the window works, so the cache most likely keeps growing past "
            "context_length.",
            diagnosis="no-sliding-window",
        ) from e


@suite.compare("Two generations in a row: the second does not see the first prompt",
               lesson="#resetting-the-cache")
def check_generate_twice(impl):
    # Sizes chosen so that a cache left over from the first prompt still fits (no crash).
    return _generate_all(impl, [((1, 4), 3, None), ((1, 2), 1, None)], seed=10)


@suite.compare("generate_text_simple_cached(..., use_cache=False) recomputes without the cache",
               lesson="#generating-with-the-cache")
def check_generate_uncached_flag(impl):
    m = _model(impl, CFG_B, 11)
    idx = _ids(CFG_B, (2, 2), 110)
    return impl.generate_text_simple_cached(m, idx, 7, use_cache=False)


# -- property checks ------------------------------------------------------------------------------------
@suite.check("Cached generation gives exactly the tokens of uncached generate_text_simple",
             lesson="#when-the-window-is-full")
def check_cached_equals_uncached(learner):
    for seed, (shape, new, context_size) in enumerate([((2, 3), 15, 8), ((1, 6), 6, 4)], start=12):
        m = _model(learner, CFG, seed)
        idx = _ids(CFG, shape, seed)
        with torch.no_grad():
            expected = _uncached_generate(m, idx, new, context_size)
        try:
            got = learner.generate_text_simple_cached(m, idx, new, context_size)
        except (IndexError, RuntimeError) as e:
            raise CheckFailed(
                f"Cached generation of {new} tokens after a {shape[1]}-token prompt with "
                f"context_size {context_size} raised {type(e).__name__}: {e}"
            ) from e
        if not torch.is_tensor(got) or tuple(got.shape) != tuple(expected.shape):
            raise CheckFailed(f"Expected a tensor of shape {tuple(expected.shape)}, got "
                              f"{tuple(got.shape) if torch.is_tensor(got) else type(got).__name__}.")
        if not torch.equal(got, expected):
            diff = (got != expected).any(dim=0).nonzero().flatten()
            first = int(diff[0])
            raise CheckFailed(
                f"Cached and uncached tokens differ (prompt of {shape[1]} tokens, {new} new, "
                f"context_size {context_size}): first at position {first} of "
                f"{expected.shape[1]}.\n  uncached: {expected[0].tolist()}\n"
                f"  cached:   {got[0].tolist()}"
            )


@suite.check("Generation feeds the prompt once, then one token per step (re-filling only when the window "
             "is full); use_cache=False feeds the whole window every step", lesson="#generating-with-the-cache")
def check_fed_lengths(learner):
    for use_cache, expected in ((True, [3, 1, 1, 1, 1, 1, 8, 8]), (False, [3, 4, 5, 6, 7, 8, 8, 8])):
        m = _model(learner, CFG, 16)
        lengths = []
        m.register_forward_pre_hook(lambda mod, args, kwargs: lengths.append(args[0].shape[1]) if args
                                    else lengths.append(kwargs["in_idx"].shape[1]), with_kwargs=True)
        kwargs = {} if use_cache else {"use_cache": False}
        learner.generate_text_simple_cached(m, _ids(CFG, (2, 3), 160), 8, None, **kwargs)
        extra = len(lengths) - len(expected)
        if lengths[:len(expected)] != expected or extra not in (0, 1):
            call = "generate_text_simple_cached(model, prompt, 8)" if use_cache else \
                "generate_text_simple_cached(model, prompt, 8, use_cache=False)"
            raise CheckFailed(
                f"{call} with a 3-token prompt and context length 8 gave the model inputs of these lengths: "
                f"{lengths}; expected {expected} (one more call after the last token is fine). "
                + ("With the cache (the default): the prompt once, then each new token alone; only when the "
                   "window is full, the last context_size tokens again."
                   if use_cache else "Without the cache, every step feeds the whole (cropped) window.")
            )

"""Greedy generation speed on CPU: the reference KV cache vs no cache vs Hugging Face `transformers`.

A gpt2-small-shaped model (124M config, qkv bias like GPT-2, random weights, no dropout) generates 200
new tokens greedily after a short prompt, three ways, in one run so that the ratios share the machine's
load of the moment:

- uncached: solutions/gpt_model.py's `generate_text_simple` (the whole window every step);
- cached: solutions/kv_cache.py's `generate_text_simple_cached` with the same weights;
- transformers: `GPT2LMHeadModel.generate(do_sample=False)` (it caches too) with the same weights,
  copied into the Hugging Face layout (an untied `lm_head`, as our `out_head` is separate);
- the run's loop (`--with-run-loop`): what `tutor run generate` does per token, the reference `generate`
  called for one token at a time on `tutor.runs.generate.CachedForward` (temperature 0).

The two cached generators are timed alternately, best of `--repeat` runs each after a warm-up
(uncached once: it is the slow one); the script also reports whether the three produce
the same tokens (random weights give near-ties, so a rare float-rounding flip is possible and said so).

    python bench/generate.py [--new-tokens 200] [--prompt-tokens 8] [--repeat 2] [--threads N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GPT2_SMALL = {"vocab_size": 50257, "context_length": 1024, "emb_dim": 768, "n_heads": 12,
              "n_layers": 12, "drop_rate": 0.0, "qkv_bias": True}


def reference_modules():
    """solutions/gpt_model.py and solutions/kv_cache.py, with their siblings from solutions/ too."""
    from tutor.exercise_imports import install_exercises_mapping, reference_mapping

    install_exercises_mapping(reference_mapping())
    import exercises.gpt_model
    import exercises.kv_cache

    return exercises.gpt_model, exercises.kv_cache


def to_hf_state_dict(model) -> dict:
    """Our GPTModel's parameters in GPT2LMHeadModel's names and Conv1D layout ([in, out] weights)."""
    import torch

    sd = {"transformer.wte.weight": model.tok_emb.weight, "transformer.wpe.weight": model.pos_emb.weight,
          "transformer.ln_f.weight": model.final_norm.scale, "transformer.ln_f.bias": model.final_norm.shift,
          "lm_head.weight": model.out_head.weight}
    for i, block in enumerate(model.trf_blocks):
        h, att, ff = f"transformer.h.{i}.", block.att, block.ff
        sd[h + "ln_1.weight"], sd[h + "ln_1.bias"] = block.norm1.scale, block.norm1.shift
        sd[h + "ln_2.weight"], sd[h + "ln_2.bias"] = block.norm2.scale, block.norm2.shift
        sd[h + "attn.c_attn.weight"] = torch.cat([att.W_query.weight, att.W_key.weight,
                                                  att.W_value.weight]).T
        sd[h + "attn.c_attn.bias"] = torch.cat([att.W_query.bias, att.W_key.bias, att.W_value.bias])
        sd[h + "attn.c_proj.weight"] = att.out_proj.weight.T
        sd[h + "attn.c_proj.bias"] = att.out_proj.bias
        sd[h + "mlp.c_fc.weight"] = ff.layers[0].weight.T
        sd[h + "mlp.c_fc.bias"] = ff.layers[0].bias
        sd[h + "mlp.c_proj.weight"] = ff.layers[2].weight.T
        sd[h + "mlp.c_proj.bias"] = ff.layers[2].bias
    return {k: v.detach().contiguous() for k, v in sd.items()}


def hf_model(cfg, state_dict):
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=cfg["vocab_size"], n_positions=cfg["context_length"], n_embd=cfg["emb_dim"],
                        n_layer=cfg["n_layers"], n_head=cfg["n_heads"], resid_pdrop=0.0, embd_pdrop=0.0,
                        attn_pdrop=0.0, layer_norm_epsilon=1e-5, activation_function="gelu_new",
                        tie_word_embeddings=False)
    model = GPT2LMHeadModel(config)
    missing, unexpected = model.load_state_dict(state_dict, strict=False)
    # Only non-parameter buffers may be missing (older versions keep attn.bias / masked_bias buffers).
    missing = [k for k in missing if not k.endswith((".attn.bias", ".attn.masked_bias"))]
    if missing or unexpected:
        raise SystemExit(f"weight mapping is incomplete: missing {missing[:4]}, unexpected {unexpected[:4]}")
    return model.eval()


def best_time(fn, repeat: int):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--new-tokens", type=int, default=200)
    parser.add_argument("--prompt-tokens", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--skip-uncached", action="store_true", help="the slowest of the three")
    parser.add_argument("--with-run-loop", action="store_true", help="also time tutor run generate's loop")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    gpt_model, kv_cache = reference_modules()
    torch.manual_seed(123)
    cached_model = kv_cache.GPTModel(GPT2_SMALL).eval()
    plain_model = gpt_model.GPTModel(GPT2_SMALL).eval()
    plain_model.load_state_dict(cached_model.state_dict())
    hf = hf_model(GPT2_SMALL, to_hf_state_dict(cached_model))

    prompt = torch.randint(0, GPT2_SMALL["vocab_size"], (1, args.prompt_tokens),
                           generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # same weights: the same logits
        diff = (hf(prompt).logits - plain_model(prompt)).abs().max().item()
    n, ctx = args.new_tokens, GPT2_SMALL["context_length"]

    def run_cached():
        return kv_cache.generate_text_simple_cached(cached_model, prompt, n, ctx)

    def run_uncached():
        with torch.no_grad():
            return gpt_model.generate_text_simple(plain_model, prompt, n, ctx)

    def run_loop():
        from exercises.decoding import generate

        from tutor.runs.generate import CachedForward

        step, idx = CachedForward(cached_model), prompt
        with torch.inference_mode():
            for _ in range(n):
                idx = generate(step, idx, max_new_tokens=1, context_size=ctx, temperature=0.0)
        return idx

    def run_hf():
        with torch.no_grad():
            return hf.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=n,
                               min_new_tokens=n, do_sample=False, use_cache=True, pad_token_id=0)

    # Warm-up: first calls pay for allocations and lazy initialisation.
    kv_cache.generate_text_simple_cached(cached_model, prompt, 8, ctx)
    with torch.no_grad():
        hf.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=8, do_sample=False,
                    pad_token_id=0)

    # Alternate the two cached generators, so that both see the same changes in the machine's load.
    t_cached = t_hf = float("inf")
    for _ in range(args.repeat):
        t, ids_cached = best_time(run_cached, 1)
        t_cached = min(t_cached, t)
        t, ids_hf = best_time(run_hf, 1)
        t_hf = min(t_hf, t)
    t_uncached, ids_uncached = (None, None) if args.skip_uncached else best_time(run_uncached, 1)
    t_loop, ids_loop = best_time(run_loop, args.repeat) if args.with_run_loop else (None, None)

    import transformers

    print(f"gpt2-small shape, random weights, CPU, {torch.get_num_threads()} threads, torch {torch.__version__}, "
          f"transformers {transformers.__version__}")
    print(f"prompt {args.prompt_tokens} tokens, {n} new tokens, greedy; largest logit difference ours vs "
          f"transformers on the prompt: {diff:.2e}")
    print(f"cached (reference kv_cache): {n / t_cached:8.1f} tokens/s  ({t_cached:.2f} s)")
    print(f"transformers generate:       {n / t_hf:8.1f} tokens/s  ({t_hf:.2f} s)")
    if t_uncached is not None:
        print(f"uncached (generate_text_simple): {n / t_uncached:4.1f} tokens/s  ({t_uncached:.2f} s)")
    if t_loop is not None:
        print(f"the run's loop (CachedForward): {n / t_loop:5.1f} tokens/s  ({t_loop:.2f} s), "
              f"{t_hf / t_loop:.2f}x transformers, same tokens as cached {torch.equal(ids_loop, ids_cached)}")
    print(f"cached / transformers: {t_hf / t_cached:.2f}x")
    if t_uncached is not None:
        print(f"cached / uncached: {t_uncached / t_cached:.2f}x;  uncached / transformers: {t_hf / t_uncached:.2f}x")
        print(f"same tokens: cached vs uncached {torch.equal(ids_cached, ids_uncached)}, "
              f"cached vs transformers {torch.equal(ids_cached, ids_hf)}")
    else:
        print(f"same tokens: cached vs transformers {torch.equal(ids_cached, ids_hf)}")


if __name__ == "__main__":
    main()

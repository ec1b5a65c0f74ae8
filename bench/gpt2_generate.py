"""Tokens/s of `tutor run generate` next to `transformers` `generate`, on the same gpt2-small-shaped weights.

A random `transformers.GPT2LMHeadModel` with GPT-2 small's config is saved as safetensors in the Hub's layout;
`tutor.runs.generate.generate_text` (what `tutor run generate --weights FILE` runs: the reference modules,
loaded through `load_weights_into_gpt`, greedy, one token at a time) continues a prompt by 100 tokens, and so
does `transformers` (greedy, with its KV cache; `--also-uncached` adds a run without it). Same process, same threads, one run;
our generator has no KV cache yet, so the ratio against cached `transformers` is expected to be well below 1.
Timings on a shared machine are noisy.

    python bench/gpt2_generate.py [--tokens 100] [--threads N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=100)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--also-uncached", action="store_true",
                    help="also time transformers without its KV cache (as slow as ours; doubles the run)")
    args = ap.parse_args()

    import torch
    import transformers
    from safetensors.torch import save_file

    from tutor.data.bpe import gpt2_encoding
    from tutor.runs.events import Recorder
    from tutor.runs.generate import GenerateConfig, generate_text

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = transformers.GPT2Config(n_positions=1024, n_embd=768, n_layer=12, n_head=12)
    hf = transformers.GPT2LMHeadModel(config).eval()
    folder = Path(tempfile.mkdtemp(prefix="gpt2-generate-"))
    path = folder / "model.safetensors"
    save_file({k: v.detach().contiguous().clone() for k, v in hf.transformer.state_dict().items()}, str(path))
    config.to_json_file(str(folder / "config.json"))

    prompt = "Every effort moves you"
    rec = Recorder()
    t0 = time.perf_counter()
    generate_text(GenerateConfig(prompt=prompt, weights=str(path), max_new_tokens=args.tokens, temperature=0.0,
                                 device="cpu", use_reference=True), rec)
    total = time.perf_counter() - t0
    done = rec.of("done")[0]
    ours = done["tokens_per_s"]
    print(f"tutor run generate: {done['tokens']} tokens, {ours:.1f} tokens/s", flush=True)

    ids = torch.tensor([gpt2_encoding().encode(prompt)])
    results = {}
    for cache in (True, False) if args.also_uncached else (True,):
        with torch.no_grad():
            hf.generate(ids, max_new_tokens=2, do_sample=False, pad_token_id=50256, use_cache=cache)  # warm up
            t0 = time.perf_counter()
            out = hf.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=args.tokens,
                              min_new_tokens=args.tokens, do_sample=False, pad_token_id=50256, use_cache=cache)
            results[cache] = (out.shape[1] - ids.shape[1]) / (time.perf_counter() - t0)
    same = gpt2_encoding().decode(out[0, ids.shape[1]:].tolist()) == done["text"]
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, {torch.get_num_threads()} threads")
    print(f"tutor run generate: {done['tokens']} tokens, {ours:.1f} tokens/s (whole run incl. loading "
          f"{total:.1f} s)")
    print(f"transformers generate, KV cache: {results[True]:.1f} tokens/s -> ratio tutor/transformers "
          f"{ours / results[True]:.2f}")
    if False in results:
        print(f"transformers generate, no cache: {results[False]:.1f} tokens/s -> ratio {ours / results[False]:.2f}")
    print(f"same greedy text as transformers: {same}")
    for p in folder.iterdir():
        p.unlink()
    folder.rmdir()


if __name__ == "__main__":
    main()

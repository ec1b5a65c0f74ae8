"""Encoding speed of the reference BPE tokenizer (solutions/bpe.py, GPT-2's merges) next to tiktoken's.

Reported, not raced: the reference is plain Python written to be read. Run from the repository root:

    python bench/bpe_speed.py [TEXT_FILE]

TEXT_FILE defaults to The Verdict from the cache (`tutor download verdict`) or /work/shared/data.
Prints the ids' agreement and the best of a few timings for each, and the ratio.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _verdict() -> Path:
    try:
        from tutor.data.datasets import cached_path, remote_file

        p = cached_path(remote_file("verdict"))
        if p.is_file():
            return p
    except Exception:
        pass
    return Path("/work/shared/data/the-verdict.txt")


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    from tutor.data.bpe import bundled_files_dir, gpt2_encoding

    path = Path(sys.argv[1]) if len(sys.argv) > 1 else _verdict()
    text = path.read_text(encoding="utf-8")
    spec = importlib.util.spec_from_file_location("reference_bpe", ROOT / "solutions" / "bpe.py")
    bpe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bpe)

    files = bundled_files_dir()
    t = time.perf_counter()
    ours = bpe.BPETokenizer.from_gpt2(files / "encoder.json", files / "vocab.bpe")
    load_s = time.perf_counter() - t
    enc = gpt2_encoding()

    ids_ours, ids_tiktoken = ours.encode(text), enc.encode(text, disallowed_special=())
    ours_s = best_of(lambda: ours.encode(text), 3)
    tiktoken_s = best_of(lambda: enc.encode(text, disallowed_special=()), 10)
    print(f"text: {path.name}, {len(text):,} characters, {len(ids_tiktoken):,} tokens")
    print(f"same ids as tiktoken: {ids_ours == ids_tiktoken}")
    print(f"reference from_gpt2 load: {load_s * 1e3:.0f} ms")
    print(f"reference encode: {ours_s * 1e3:.1f} ms ({len(ids_ours) / ours_s:,.0f} tokens/s)")
    print(f"tiktoken encode:  {tiktoken_s * 1e3:.2f} ms ({len(ids_tiktoken) / tiktoken_s:,.0f} tokens/s)")
    print(f"reference / tiktoken time: {ours_s / tiktoken_s:.0f}x")


if __name__ == "__main__":
    main()

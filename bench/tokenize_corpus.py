"""Tokenizing a large corpus into the token file (`tutor.data.corpus`): throughput, CPU time and peak memory.

Writes a text of SIZE_MB megabytes under a temporary folder (the built-in stories, shuffled story by story
and repeated; deleted afterwards), then, each in a fresh child process so the peak memory is the step's own:

  1. tokenizes it into a new token file (`token_file`, the threads tutor uses by default);
  2. opens it again (a cache hit: hashing only);
  3. trains nothing but reads 200 random global batches of windows (context 1024, 8 windows) through
     `WindowOrder`, as a streaming run does.

Run from the repository root:

    python bench/tokenize_corpus.py [SIZE_MB] [--threads N]     # SIZE_MB defaults to 1024

Each line reports wall time, CPU time (user + system, all threads) and peak RSS; the first also MB/s and
tokens/s. Wall time depends on what else the machine runs: give CPU time alongside it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_text(path: Path, size_mb: int, seed: int = 0) -> int:
    """The built-in stories, shuffled and repeated until the file holds `size_mb` MiB; returns its size."""
    from tutor.data.datasets import builtin_text

    stories = [s.strip() for s in builtin_text().split("<|endoftext|>") if s.strip()]
    rng = random.Random(seed)
    target = size_mb * 2**20
    written = 0
    with open(path, "w", encoding="utf-8") as f:
        while written < target:
            rng.shuffle(stories)
            block = "<|endoftext|>".join(stories) + "<|endoftext|>"
            f.write(block)
            written += len(block.encode())
    return path.stat().st_size


def _child(step: str, file: str, threads: int) -> dict:
    """One measured step, in this (child) process."""
    from tutor.data import corpus

    t0, c0 = time.perf_counter(), os.times()
    result: dict = {"step": step}
    if step in ("tokenize", "reuse"):
        tokens = corpus.token_file([file], threads=threads or None)
        result.update(tokens=tokens.n_tokens, reused=tokens.reused)
    else:
        from tutor.runs.streaming import WindowOrder

        tokens = corpus.token_file([file])
        windows = corpus.TokenWindows(tokens.tokens(), 1024, 1024)
        order = WindowOrder(windows, global_batch=8, batch_size=8, seed=1)
        perm = order.permutation(0)
        for i in range(200):
            for _, idx in order.slices(perm, i * (order.steps_per_epoch // 200), rank=0, world=1):
                x, y = windows.batch(idx)
        result.update(windows=len(windows), batch_shape=list(x.shape))
    c1 = os.times()
    result.update(wall_s=time.perf_counter() - t0, cpu_s=(c1.user - c0.user) + (c1.system - c0.system),
                  peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, **_rss_now())
    return result


def _rss_now() -> dict:
    """Resident memory now, split (on Linux) into the process's own (anonymous) memory and pages of mapped
    files: memmapped tokens count as file pages, which the OS can drop at any time."""
    try:
        lines = Path("/proc/self/status").read_text().splitlines()
    except OSError:
        return {}
    fields = dict(line.split(":", 1) for line in lines if ":" in line)
    return {key: int(fields[name].split()[0]) / 1024 for key, name in
            (("anon_mb", "RssAnon"), ("file_mb", "RssFile")) if name in fields}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("size_mb", nargs="?", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=0, help="encoding threads (default: tutor's own choice)")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(_child(args.child[0], args.child[1], args.threads)))
        return
    work = Path(tempfile.mkdtemp(prefix="tutor-bench-corpus-"))
    try:
        env = {**os.environ, "TUTOR_CACHE": str(work / "cache"), "PYTHONPATH": str(ROOT)}
        file = work / "corpus.txt"
        t = time.perf_counter()
        size = make_text(file, args.size_mb)
        print(f"text: {size / 1e6:,.0f} MB ({size / 2**20:,.0f} MiB) written in {time.perf_counter() - t:.1f} s; "
              f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}", flush=True)
        for step in ("tokenize", "reuse", "windows"):
            out = subprocess.run([sys.executable, __file__, "--threads", str(args.threads), "--child", step,
                                  str(file)], capture_output=True, text=True, env=env, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            extra = ""
            if step == "tokenize":
                extra = (f"  {size / 1e6 / r['wall_s']:.1f} MB/s wall, {size / 1e6 / r['cpu_s']:.1f} MB/s per CPU "
                         f"second, {r['tokens'] / r['wall_s']:,.0f} tokens/s, {r['tokens']:,} tokens")
            elif step == "windows":
                extra = f"  {r['windows']:,} windows, batches of {r['batch_shape']}"
            split = (f" (now {r['anon_mb']:.0f} MB own + {r['file_mb']:.0f} MB mapped file pages)"
                     if "anon_mb" in r else "")
            print(f"{step:9s} wall {r['wall_s']:7.1f} s  cpu {r['cpu_s']:7.1f} s  peak RSS {r['peak_rss_mb']:5.0f} MB"
                  + split + extra, flush=True)
        print(f"load average now {os.getloadavg()[0]:.1f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

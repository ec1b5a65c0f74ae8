"""Peak memory and time of loading GPT-2-shaped safetensors files into the (reference) GPTModel on the CPU.

For each size it writes a random fp32 file in the Hugging Face layout (tensor by tensor, so writing needs
little memory; the causal-mask buffers are included, as in the Hub's files), then loads it in a fresh
process through `tutor.runs.models.load_model` (model built without init, tensors read one at a time, the
reference `load_weights_into_gpt`) and reports the peak RSS against the model's fp32 parameter bytes (the
issue's goal: ≤ 1.3×), the RSS before loading (Python + torch), and the load time. The files are deleted
afterwards. Timings on a shared machine are noisy.

    python bench/gpt2_load.py                 # gpt2-small and gpt2-xl shapes (xl: ~6.4 GB on disk)
    python bench/gpt2_load.py --sizes gpt2-small --dir /tmp
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tutor.data import gpt2_files  # noqa: E402


def write_random_checkpoint(path: Path, name: str) -> int:
    """A random fp32 GPT-2 `name` file in the Hub's layout, streamed tensor by tensor. Returns its size."""
    import torch

    emb, layers, _ = gpt2_files.SIZES[name]
    ctx = gpt2_files.CONTEXT_LENGTH
    shapes = dict(gpt2_files.expected_shapes(emb, layers))
    for i in range(layers):
        shapes[f"h.{i}.attn.bias"] = [1, 1, ctx, ctx]
    header, offset = {}, 0
    for key, shape in shapes.items():
        n = 4
        for d in shape:
            n *= d
        header[key] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    g = torch.Generator().manual_seed(0)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for key, shape in shapes.items():
            t = torch.tril(torch.ones(ctx, ctx)).view(shape) if key.endswith(".attn.bias") else \
                torch.randn(*shape, generator=g) * 0.02
            f.write(t.numpy().tobytes())
            del t
    return path.stat().st_size


_CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[2])
import torch
from tutor.assemble import Assembly
from tutor.exercise_imports import install_exercises_mapping, reference_mapping
from tutor.runs.models import load_model
mapping = reference_mapping()
install_exercises_mapping(mapping)
import exercises.gpt_model, exercises.gpt2_weights  # imports are not part of the load
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
t0 = time.perf_counter()
loaded = load_model(sys.argv[1], Assembly(mapping, (), ()))
elapsed = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
params = {id(p): p.numel() * p.element_size() for p in loaded.model.parameters()}
with open("/proc/self/status") as f:
    now = next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmRSS"))
print(json.dumps({"before": before, "peak": peak, "after": now, "seconds": elapsed,
                  "param_bytes": sum(params.values()), "cfg": loaded.cfg}))
"""


def measure(path: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(ROOT)], capture_output=True, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    if out.returncode:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="+", default=["gpt2-small", "gpt2-xl"], choices=list(gpt2_files.SIZES))
    ap.add_argument("--dir", default=None, help="where to write the files (default: a temporary folder)")
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="gpt2-load-", dir=args.dir))
    gb = 1e9
    try:
        for name in args.sizes:
            path = folder / f"{name}.safetensors"
            free = shutil.disk_usage(folder).free
            t0 = time.perf_counter()
            size = write_random_checkpoint(path, name)
            gpt2_files.check_header(path, name)
            wrote = time.perf_counter() - t0
            r = measure(path)
            ratio = r["peak"] / r["param_bytes"]
            print(f"{name}: file {size / gb:.2f} GB (written in {wrote:.0f} s; {free / gb:.0f} GB were free)\n"
                  f"  model fp32 parameter bytes {r['param_bytes'] / gb:.2f} GB (untied head: out_head is its own "
                  f"matrix)\n"
                  f"  RSS before loading {r['before'] / gb:.2f} GB; peak {r['peak'] / gb:.2f} GB = {ratio:.2f}x the "
                  f"parameter bytes (goal <= 1.3x); peak minus before {(r['peak'] - r['before']) / gb:.2f} GB = "
                  f"{(r['peak'] - r['before']) / r['param_bytes']:.2f}x; after {r['after'] / gb:.2f} GB\n"
                  f"  load time {r['seconds']:.1f} s", flush=True)
            path.unlink()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

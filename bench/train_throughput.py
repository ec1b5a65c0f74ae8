"""Tokens/s of one training step (forward + backward + AdamW): the reference GPT plain, with `--fast`, and
Hugging Face `transformers.GPT2LMHeadModel` with the same config as the peer.

The model is the `gpt2-124M` preset (12 layers, 768 wide, 12 heads, dropout 0.1) with GPT-2's query/key/value
biases, as the peer has them; ours keeps its separate output head (163M parameters, the peer ties it: 124M).
All three train in one process, interleaved step by step, on the same fixed random batch, each with its own
AdamW (lr 4e-4, weight decay 0.1; `--fast` gets the fused kernel, the others torch's default), and each
reports the median of `--steps` timed steps after `--warmup` untimed ones. Interleaving makes the ratios
fair while other work loads the machine; the absolute numbers are not: the script prints the load average
and the CPU time per step (user + system of all threads) beside them.

- CPU (default): context 256, batch 4; `--fast` without torch.compile unless `--compile`. The precision is
  the one `--fast` picks on this CPU (`--precision auto`): bf16 autocast where a bf16 matmul measures at
  least 1.5x float32 (tutor.runs.fast.cpu_bf16), else float32; `--precision fp32|bf16` forces one. All
  three variants run at that precision, so the ratios compare kernels, not number formats.
- Like every `tutor run`, the process keeps the memory it frees (tutor.portable.keep_freed_memory) unless
  `TUTOR_KEEP_FREED_MEMORY=0`; that speeds all three variants alike.
- CUDA (`--device cuda`, the same script unchanged): context 1024, the largest batch (a power of two) that
  fits, bf16 autocast for all three, `--fast` compiled (unless `--no-compile`), and MFU for each:
  FLOPs per token = 6·N + 12·n_layers·emb_dim·context, with N the parameters that take part in matmuls
  (all but the token and position embedding tables; the output head counts), and the peak taken from a
  measured bf16 matmul.

The last line is exactly `ratio plain/peer=X.XX fast/peer=Y.YY` (other tools read it).

    python bench/train_throughput.py [--device cpu|cuda] [--steps 7] [--warmup 2] [--batch N] [--context N]
                                     [--compile|--no-compile] [--threads N] [--precision auto|fp32|bf16]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def model_cfg(context: int) -> dict:
    from tutor.runs.configs import preset

    return {**preset("gpt2-124M").model, "context_length": context, "qkv_bias": True}


def reference_gpt():
    """solutions/gpt_model.py's GPTModel (with its siblings from solutions/)."""
    from tutor.exercise_imports import install_exercises_mapping, reference_mapping

    install_exercises_mapping(reference_mapping())
    from exercises.gpt_model import GPTModel

    return GPTModel


def peer_model(cfg: dict):
    from transformers import GPT2Config, GPT2LMHeadModel

    hf = GPT2Config(vocab_size=cfg["vocab_size"], n_positions=cfg["context_length"], n_embd=cfg["emb_dim"],
                    n_layer=cfg["n_layers"], n_head=cfg["n_heads"], resid_pdrop=cfg["drop_rate"],
                    embd_pdrop=cfg["drop_rate"], attn_pdrop=cfg["drop_rate"])
    return GPT2LMHeadModel(hf)


def matmul_params(model) -> int:
    """Parameters that take part in matmuls: all but the token and position embedding tables."""
    import torch

    tables = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Embedding)}
    head = getattr(model, "lm_head", None)
    tied = head.weight.numel() if head is not None and id(head.weight) in tables else 0
    return sum(p.numel() for p in model.parameters() if id(p) not in tables) + tied


class Variant:
    """One model with its optimizer and its step; `forward(ids)` returns the logits."""

    def __init__(self, name, model, optimizer, forward, device, autocast):
        self.name, self.model, self.optimizer, self.forward = name, model, optimizer, forward
        self.device, self.autocast = device, autocast
        self.seconds: list[float] = []
        self.cpu: list[float] = []
        self.losses: list[float] = []

    def step(self, inputs, targets, timed: bool) -> None:
        import torch

        sync = torch.cuda.synchronize if self.device.startswith("cuda") else (lambda: None)
        sync()
        t0, c0 = time.perf_counter(), time.process_time()
        self.optimizer.zero_grad(set_to_none=True)
        with self.autocast():
            logits = self.forward(inputs)
            loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), targets.flatten())
        loss.backward()
        self.optimizer.step()
        sync()
        if timed:
            self.seconds.append(time.perf_counter() - t0)
            self.cpu.append(time.process_time() - c0)
        self.losses.append(float(loss.detach()))

    def tokens_per_s(self, tokens: int) -> float:
        return tokens / statistics.median(self.seconds)


def bf16_peak_flops(device: str) -> float:
    """FLOP/s of a large bf16 matmul, measured (the best of a few)."""
    import torch

    n = 8192
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(10):
            a @ b
        torch.cuda.synchronize()
        best = min(best, (time.perf_counter() - t0) / 10)
    return 2 * n**3 / best


def build(device: str, cfg: dict, compile_fast: bool):
    import contextlib

    import torch

    from tutor.runs import fast
    from tutor.runs.common import autocast

    GPTModel = reference_gpt()
    torch.manual_seed(0)
    plain = GPTModel(cfg).to(device)
    fast_model = GPTModel(cfg).to(device)
    fast_model.load_state_dict(plain.state_dict())
    report = fast.make_fast(fast_model, cfg, device, compile=compile_fast,
                            assembly=SimpleNamespace(learner=()))  # the reference's modules
    if device.startswith("cuda"):
        amp = lambda: autocast(device)  # noqa: E731 (what every CUDA run uses)
    elif report.plan.autocast_bf16:  # what --fast chose on this CPU: the other two get it too
        amp = lambda: torch.autocast("cpu", dtype=torch.bfloat16)  # noqa: E731
    else:
        amp = contextlib.nullcontext
    peer = peer_model(cfg).to(device)
    plain.train(), fast_model.train(), peer.train()

    def adamw(model, **extra):
        return torch.optim.AdamW(model.parameters(), lr=4e-4, weight_decay=0.1, **extra)

    cuda_fused = {"fused": True} if device.startswith("cuda") else {}  # what plain runs already use on CUDA
    fast_forward = fast.compiled(fast_model, report.plan.compile)
    variants = [
        Variant("plain", plain, adamw(plain, **cuda_fused), plain, device, amp),
        Variant("fast", fast_model, adamw(fast_model, **fast.optimizer_options(device, True)), fast_forward,
                device, amp),
        Variant("peer", peer, adamw(peer, **cuda_fused), lambda ids: peer(input_ids=ids).logits, device, amp),
    ]
    return variants, report


def largest_batch(device: str, cfg: dict, compile_fast: bool) -> int:
    """The largest power-of-two batch at which all three variants take a step without running out of memory."""
    import torch

    batch, best = 1, None
    while batch <= 256:
        variants = None
        try:
            variants, _ = build(device, cfg, compile_fast=False)
            ids = torch.randint(0, cfg["vocab_size"], (batch, cfg["context_length"] + 1), device=device)
            for v in variants:
                v.step(ids[:, :-1], ids[:, 1:], timed=False)
            best = batch
            batch *= 2
        except torch.cuda.OutOfMemoryError:
            break
        finally:
            del variants
            torch.cuda.empty_cache()
    if best is None:
        raise SystemExit("Not even a batch of 1 fits.")
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=7, help="timed steps per variant (the median is reported)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps per variant first")
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--context", type=int, default=None)
    ap.add_argument("--compile", dest="compile", action="store_true", default=None,
                    help="torch.compile the --fast model (default: on CUDA only)")
    ap.add_argument("--no-compile", dest="compile", action="store_false")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                    help="CPU: the precision of all three (auto: what --fast picks on this CPU)")
    args = ap.parse_args()
    if args.precision != "auto":
        from tutor.runs.fast import CPU_BF16_ENV

        os.environ[CPU_BF16_ENV] = "1" if args.precision == "bf16" else "0"
    from tutor import portable

    kept = portable.keep_freed_memory()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = args.device.startswith("cuda")
    cfg = model_cfg(args.context or (1024 if cuda else 256))
    compile_fast = cuda if args.compile is None else args.compile
    batch = args.batch or (largest_batch(args.device, cfg, compile_fast) if cuda else 4)
    variants, report = build(args.device, cfg, compile_fast)
    tokens = batch * cfg["context_length"]
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, cfg["vocab_size"], (batch, cfg["context_length"] + 1), generator=g).to(args.device)
    inputs, targets = ids[:, :-1], ids[:, 1:]

    import transformers

    peer = variants[2].model
    print(f"torch {torch.__version__}, transformers {transformers.__version__} "
          f"(attention: {getattr(peer.config, '_attn_implementation', '?')}), device {args.device}, "
          f"{torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f}, freed memory "
          f"{'kept for reuse' if kept else 'returned to the OS'}")
    print(f"gpt2-124M config, context {cfg['context_length']}, batch {batch}: ours "
          f"{sum(p.numel() for p in variants[0].model.parameters()):,} parameters, peer "
          f"{sum(p.numel() for p in peer.parameters()):,} (tied head)")
    print(report.describe(), flush=True)
    t0 = time.perf_counter()
    for i in range(args.warmup + args.steps):
        for v in variants:
            v.step(inputs, targets, timed=i >= args.warmup)
        print(f"  round {i + 1}/{args.warmup + args.steps}: "
              + "  ".join(f"{v.name} {v.seconds[-1] if v.seconds else float('nan'):.2f} s" for v in variants),
              file=sys.stderr, flush=True)
    print(f"{args.warmup + args.steps} rounds in {time.perf_counter() - t0:.0f} s; load average now "
          f"{os.getloadavg()[0]:.1f}")
    peak = bf16_peak_flops(args.device) if cuda else None
    if peak:
        print(f"measured bf16 matmul peak: {peak / 1e12:.0f} TFLOP/s")
    for v in variants:
        tps = v.tokens_per_s(tokens)
        line = (f"{v.name:>5}: {tps:9,.0f} tokens/s  (median step {statistics.median(v.seconds):.3f} s, "
                f"CPU {statistics.median(v.cpu):.2f} s/step, loss {v.losses[0]:.3f} -> {v.losses[-1]:.3f})")
        if peak:
            flops = 6 * matmul_params(v.model) + 12 * cfg["n_layers"] * cfg["emb_dim"] * cfg["context_length"]
            line += f"  MFU {tps * flops / peak:.1%}"
        print(line)
    plain, fast_v, peer_v = (v.tokens_per_s(tokens) for v in variants)
    print(f"ratio plain/peer={plain / peer_v:.2f} fast/peer={fast_v / peer_v:.2f}")


if __name__ == "__main__":
    main()

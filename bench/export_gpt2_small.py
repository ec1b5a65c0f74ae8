"""`tutor export` of a GPT-2-small-shaped model (12 layers, 768 wide, 1,024-token context, untied head; random
weights): time and size of each format, and, where they are installed, the exported model's logits against
ours (transformers for hf; llama-cpp-python for gguf).

Usage: python bench/export_gpt2_small.py [--threads 2] [--context 1024]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--context", type=int, default=1024)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from tutor.exercise_imports import install_exercises_mapping, reference_mapping
    from tutor.runs import checkpoint as ckpt

    install_exercises_mapping(reference_mapping())
    from exercises.gpt_model import GPTModel
    from tutor.export.commands import export_model

    cfg = {"vocab_size": 50257, "context_length": args.context, "emb_dim": 768, "n_heads": 12, "n_layers": 12,
           "drop_rate": 0.0, "qkv_bias": False}
    torch.manual_seed(0)
    model = GPTModel(cfg).eval()
    report: dict = {"parameters": sum(p.numel() for p in model.parameters()), "threads": args.threads}
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        ckpt.save_checkpoint(run_dir / ckpt.FILENAME, {"run": "pretrain", "model": ckpt.parameters(model),
                                                       "model_cfg": cfg})
        report["checkpoint_mb"] = round((run_dir / ckpt.FILENAME).stat().st_size / 1e6, 1)
        for fmt, dtype in (("hf", None), ("gguf", "f32"), ("gguf", "f16"), ("gguf", "q8_0")):
            out = Path(tmp) / (fmt if dtype is None else f"{fmt}-{dtype}")
            t0 = time.perf_counter()
            result = export_model(run_dir, fmt, out, dtype=dtype or "f16")
            key = fmt if dtype is None else f"gguf_{dtype}"
            report[key] = {"seconds": round(time.perf_counter() - t0, 2), "mb": round(result.total_bytes / 1e6, 1)}
        ids = torch.tensor([[15496, 11, 314, 716, 257, 3303, 2746, 13]])
        with torch.no_grad():
            ours = model(ids)
        try:
            from transformers import GPT2LMHeadModel

            theirs = GPT2LMHeadModel.from_pretrained(Path(tmp) / "hf").eval()
            with torch.no_grad():
                report["hf"]["logits_max_abs_diff"] = float((ours - theirs(ids).logits).abs().max())
        except ImportError:
            report["hf"]["logits_max_abs_diff"] = "transformers not installed"
        try:
            import llama_cpp  # noqa: F401
        except ImportError:
            report["llama_cpp"] = "llama-cpp-python not installed"
        else:
            import numpy as np

            report["llama_cpp"] = {}
            for dtype in ("f32", "f16", "q8_0"):
                llm = llama_cpp.Llama(str(Path(tmp) / f"gguf-{dtype}" / f"model-{dtype}.gguf"), logits_all=True,
                                      n_ctx=64, verbose=False)
                llm.eval(ids[0].tolist())
                got = np.array(llm.scores[: ids.shape[1]])
                report["llama_cpp"][dtype] = float(np.abs(got - ours[0].numpy()).max())
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

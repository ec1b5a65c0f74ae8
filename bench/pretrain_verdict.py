"""The course's reference run: `tutor run pretrain --config gpt2-124M --data verdict --epochs 10`
(GPT-2 124M, context 256, batch 2, AdamW lr 4e-4, weight decay 0.1, eval every 5 steps).
The course reports a final training loss below 1 and a validation loss near 6.4.

Usage: python bench/pretrain_verdict.py [--data PATH] [--threads N] [extra pretrain options, e.g. --max-steps 20]
`--data` defaults to ../shared/data/the-verdict.txt when it exists (the same bytes as the pinned download),
else `verdict` (downloaded into the cache and verified).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pretrain_common import run_pretrain  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "the-verdict.txt"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(SHARED) if SHARED.is_file() else "verdict")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default=None)
    args, extra = ap.parse_known_args()
    cli = ["--config", "gpt2-124M", "--data", args.data, "--epochs", "10", *extra]
    if args.out:
        cli += ["--out", args.out]
    result = run_pretrain(cli, threads=args.threads)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

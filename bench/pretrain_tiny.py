"""`tutor run pretrain --config tiny --data builtin` on 2 CPU cores: wall time (target < 3 min for the default
epochs) and the loss trajectory (validation loss must fall).

Usage: python bench/pretrain_tiny.py [--threads 2] [--repeat 1] [extra pretrain options...]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pretrain_common import run_pretrain  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1)
    args, extra = ap.parse_known_args()
    for i in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            result = run_pretrain(["--config", "tiny", "--data", "builtin", "--device", "cpu", "--out",
                                   str(Path(tmp) / "run"), *extra], threads=args.threads)
        print(json.dumps(result, indent=2))
        ok = result["exit_code"] == 0 and result["wall_s"] < 180 and \
            result["final_val_loss"] < result["first_eval"]["val_loss"]
        print(f"run {i + 1}: {'within' if ok else 'OUTSIDE'} budget (< 180 s, validation loss falling)")


if __name__ == "__main__":
    main()

"""Wall time of `tutor run judge` (against the local Ollama stand-in, so only our side is timed) and of
`tutor run mmlu --data builtin` (on a random `tiny` checkpoint), each as the learner runs it: a child process.

Usage: python bench/evaluation_runs.py [RESPONSES.json]
Without RESPONSES.json the built-in instructions are judged, each with its own output as the response.
Numbers on a shared machine are noisy; run it twice.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.runs.ollama_standin import OllamaStandIn  # noqa: E402


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="tutor-bench-eval-"))
    if len(sys.argv) > 1:
        responses = tmp / Path(sys.argv[1]).name
        responses.write_bytes(Path(sys.argv[1]).read_bytes())
    else:
        from tutor.data.instructions import load_instructions

        entries = [dict(e, model_response=e["output"]) for e in load_instructions("builtin").entries]
        responses = tmp / "responses.json"
        responses.write_text(json.dumps(entries), encoding="utf-8")
    n = len(json.loads(responses.read_text(encoding="utf-8")))
    rng = random.Random(0)
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_PROXY="127.0.0.1", COLUMNS="100", TERM="dumb")
    with OllamaStandIn(lambda prompt: (0.0, f"Score: {rng.randint(0, 100)}/100")) as server:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "tutor", "run", "judge", str(responses), "--host", server.url,
                        "--reference"], env=env, check=True, stdout=subprocess.DEVNULL)
        judge_s = time.perf_counter() - t0
    print(f"judge: {n} entries against the stand-in in {judge_s:.1f} s ({judge_s / n * 1000:.0f} ms/entry, "
          f"process start included)")

    import torch

    from tutor.exercise_imports import install_exercises_mapping, reference_mapping
    from tutor.runs import checkpoint as ckpt
    from tutor.runs.configs import PRESETS

    install_exercises_mapping(reference_mapping())
    from exercises.gpt_model import GPTModel

    cfg = dict(PRESETS["tiny"].model)
    torch.manual_seed(0)
    ckpt.save_checkpoint(tmp / "run" / "checkpoint.pt",
                         {"run": "pretrain", "model": ckpt.parameters(GPTModel(cfg)), "model_cfg": cfg})
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tutor", "run", "mmlu", "--data", "builtin", "--model", str(tmp / "run"),
                    "--reference", "--device", "cpu", "--out", str(tmp / "mmlu")], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    print(f"mmlu builtin (42 questions, tiny): {time.perf_counter() - t0:.1f} s, process start included")


if __name__ == "__main__":
    main()

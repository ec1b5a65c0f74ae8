"""Fork vs spawn grading: seconds per exercise through each mode, the reference solution of each exercise.

Usage: python bench/grade_modes.py [--exercises tokenizer,layers,gpt_model]
fork = the warm server forks a child per exercise (Linux); spawn = a fresh Python per exercise, as on Windows
and macOS (forced here). The server's own start-up (one torch import) is reported apart.
"""

from __future__ import annotations

import argparse
import statistics
import time

from tutor import curriculum
from tutor.grading.runner import GradingServer


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--exercises", default="tokenizer,embeddings,layers,gpt_model,training")
    args = ap.parse_args()
    ids = args.exercises.split(",")
    cur = curriculum.load()
    for mode in ("fork", "spawn"):
        t = time.perf_counter()
        server = GradingServer(mode=mode)
        server.start()
        startup = time.perf_counter() - t
        times = []
        for ex_id in ids:
            t = time.perf_counter()
            r = server.grade_file(ex_id, cur.get(ex_id).solution_path)
            times.append(time.perf_counter() - t)
            assert r.status == "passed", r.summary()
        server.close()
        print(f"{mode:5s}: start-up {startup:5.2f} s, per exercise median {statistics.median(times):5.2f} s "
              f"(min {min(times):.2f}, max {max(times):.2f}) over {len(ids)}: "
              + ", ".join(f"{i} {s:.2f}" for i, s in zip(ids, times)))


if __name__ == "__main__":
    main()

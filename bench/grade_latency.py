"""Grading latency: `tutor grade ID` cold for each exercise, all exercises cold, and a warm re-grade.

Usage: python bench/grade_latency.py [--repeat 3]
Cold = a fresh `tutor grade` process (it starts the grading server, which imports torch once).
Warm = one more grade through an already running server (what the TUI and `tutor watch` do).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tutor import curriculum


def timed(cmd, cwd) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, capture_output=True, check=False)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    subprocess.run([sys.executable, "-m", "tutor", "init", str(tmp / "ws")], check=True, capture_output=True)
    ws = tmp / "ws"
    exercises = curriculum.load().exercises
    for ex in exercises:
        shutil.copy(ex.solution_path, ws / "exercises" / ex.module)
    base = [sys.executable, "-m", "tutor", "grade"]
    print(f"{'exercise':22s} cold median (s)")
    for ex in exercises:
        times = [timed(base + [ex.id], ws) for _ in range(args.repeat)]
        print(f"{ex.id:22s} {statistics.median(times):6.2f}")
    times = [timed(base, ws) for _ in range(args.repeat)]
    print(f"{'ALL (' + str(len(exercises)) + ')':22s} {statistics.median(times):6.2f}")

    from tutor.grading.runner import GradingServer

    with GradingServer() as server:
        server.grade_file(exercises[0].id, ws / "exercises" / exercises[0].module)
        for ex in exercises:
            warm = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                server.grade_file(ex.id, ws / "exercises" / ex.module)
                warm.append(time.perf_counter() - t)
            print(f"warm re-grade {ex.id:22s} {statistics.median(warm):6.3f}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

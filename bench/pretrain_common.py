"""Shared by the pretraining benchmarks: run `tutor run pretrain --events` in a child and measure it.

The child's wall time covers the whole command (interpreter start, `import torch`, data, training, evaluations,
checkpoints, plot). The load average before and after is printed too: other work on the machine slows a
CPU benchmark down, and the numbers should be read with it.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time


def run_pretrain(args: list[str], threads: int | None = None, echo: bool = True) -> dict:
    env = dict(os.environ)
    cmd = [sys.executable, "-m", "tutor", "run", "pretrain", *args, "--events"]
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
        if hasattr(os, "sched_getaffinity") and len(os.sched_getaffinity(0)) > threads:
            cmd = ["taskset", "-c", ",".join(map(str, sorted(os.sched_getaffinity(0))[:threads])), *cmd]
    load_before = os.getloadavg()
    usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    events = []
    for line in child.stdout:
        ev = json.loads(line)
        events.append(ev)
        if echo and ev["event"] == "eval":
            print(f"  [{time.perf_counter() - t0:7.1f} s] step {ev['step']:>5}  train {ev['train_loss']:.3f}  "
                  f"val {ev['val_loss'] if ev['val_loss'] is None else round(ev['val_loss'], 3)}", flush=True)
        elif echo and ev["event"] == "error":
            print("  error:", ev["message"], flush=True)
    child.wait()
    wall = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (usage.ru_utime - usage_before.ru_utime) + (usage.ru_stime - usage_before.ru_stime)
    done = next((e for e in events if e["event"] == "done"), None)
    start = next((e for e in events if e["event"] == "start"), None)
    evals = [e for e in events if e["event"] == "eval"]
    return {
        "command": " ".join(cmd), "exit_code": child.returncode, "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),  # user + system time of the child: with one thread, its wall time on an idle core
        "threads": threads or "default", "load_avg_before": load_before, "load_avg_after": os.getloadavg(),
        "parameters": start and start["parameters"], "total_steps": start and start["total_steps"],
        "tokens_per_s": done and done["tokens_per_s"],
        "first_eval": evals and {k: evals[0][k] for k in ("step", "train_loss", "val_loss")},
        "best_val_loss": min((e["val_loss"] for e in evals if e["val_loss"] is not None), default=None),
        "final_train_loss": done and done["train_loss"], "final_val_loss": done and done["val_loss"],
        "out": done and done["out"],
    }

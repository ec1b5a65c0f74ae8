"""Run folders as the runs write them (the keys of pretrain/classify/instruct write_results, mmlu.json, a judge
summary), fabricated in a temporary folder so that listing and comparing runs is tested without training."""

from __future__ import annotations

import json
from pathlib import Path

TINY = {"vocab_size": 50257, "context_length": 64, "emb_dim": 64, "n_heads": 4, "n_layers": 2, "drop_rate": 0.1,
        "qkv_bias": False}


def _write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def pretrain_metrics(lr: float, val_losses: list[float], *, warmup=None, interrupted=False) -> dict:
    steps = [0, 1, 4, 7][: len(val_losses)]
    evals = [{"step": s, "epoch": s / 10, "tokens_seen": s * 512, "train_loss": v - 0.1, "val_loss": v,
              "lr": lr} for s, v in zip(steps, val_losses)]
    settings = {"config": "tiny", "model": dict(TINY), "data": "builtin", "epochs": 10, "batch_size": 8, "lr": lr,
                "weight_decay": 0.1, "eval_freq": 3, "eval_iter": 4, "max_steps": 7, "seed": 123,
                "sample_prompt": "The lighthouse keeper", "sample_tokens": 30, "train_ratio": 0.9, "init": None,
                "warmup": warmup, "min_lr": None if warmup is None else lr / 10, "clip": None}
    return {"run": "pretrain", "settings": settings, "parameters": 6536704, "device": "cpu",
            "data": {"spec": "builtin", "label": "built-in stories", "characters": 1000, "tokens": 5000},
            "learner": ["loss"], "filled_in": ["tokenizer", "dataloader"], "steps_per_epoch": 10, "total_steps": 7,
            "step": steps[len(val_losses) - 1], "interrupted": interrupted, "tokens_seen": evals[-1]["tokens_seen"],
            "train_loss": evals[-1]["train_loss"], "val_loss": val_losses[-1], "best_val_loss": min(val_losses),
            "tokens_per_s": 900.0, "train_time_s": 3.5, "session_wall_s": 4.0, "evals": evals,
            "checkpoint": None, "plot": None, "warnings": []}


def classify_metrics(test_accuracy: float) -> dict:
    evals = [{"step": s, "epoch": s / 5, "examples_seen": s * 8, "train_loss": 0.7 - s / 20, "val_loss": 0.7 - s / 25,
              "train_acc": 0.5 + s / 20, "val_acc": 0.5 + s / 25} for s in (0, 2, 4)]
    settings = {"data": "builtin", "init": "gpt2-small", "config": "gpt2-small", "epochs": 1, "batch_size": 8,
                "lr": 5e-5, "weight_decay": 0.1, "trainable": "last", "token": "last", "max_length": None,
                "eval_freq": 2, "eval_iter": 2, "max_steps": 4, "seed": 123}
    return {"run": "classify", "settings": settings, "init": "gpt2-small", "model": dict(TINY),
            "parameters": 124_000_000, "trainable_parameters": 7_000_000, "device": "cpu",
            "data": {"spec": "builtin", "label": "built-in messages", "split": {"train": 40}, "files": {}},
            "max_length": 60, "learner": [], "filled_in": [], "steps_per_epoch": 5, "total_steps": 4, "step": 4,
            "interrupted": False, "train_accuracy": 0.8, "val_accuracy": 0.75, "test_accuracy": test_accuracy,
            "confusion_matrix": [[5, 1], [0, 4]], "examples_per_s": 12.0, "train_time_s": 3.0,
            "session_wall_s": 3.3, "evals": evals, "classifier": None, "checkpoint": None, "plots": []}


def instruct_metrics(val_loss: float) -> dict:
    evals = [{"step": s, "epoch": s / 5, "tokens_seen": s * 900, "train_loss": val_loss + 1 - s / 10,
              "val_loss": val_loss + 0.8 - s / 10, "lr": 5e-5} for s in (0, 1, 6, 8)]
    evals[-1]["val_loss"] = val_loss
    settings = {"init": "gpt2-medium", "config": "gpt2-medium", "model": dict(TINY), "data": "builtin",
                "epochs": 2, "batch_size": 8, "lr": 5e-5, "weight_decay": 0.1, "eval_freq": 5, "eval_iter": 5,
                "max_steps": 8, "mask_prompt": False, "seed": 123, "sample_prompt": "x", "sample_tokens": 30,
                "response_tokens": 256}
    return {"run": "instruct", "settings": settings, "parameters": 355_000_000, "device": "cpu",
            "data": {"spec": "builtin", "label": "built-in entries", "train": 120, "test": 15, "validation": 15,
                     "train_tokens": 9000},
            "learner": [], "filled_in": [], "steps_per_epoch": 15, "total_steps": 8, "step": 8, "interrupted": False,
            "tokens_seen": 7200, "train_loss": 1.1, "val_loss": val_loss, "tokens_per_s": 100.0, "train_time_s": 9.0,
            "session_wall_s": 10.0, "evals": evals, "checkpoint": None, "responses": None, "warnings": []}


def judge_summary(responses: Path, average: float, not_judged=()) -> dict:
    scores = [average, average]
    return {"model": "llama3", "host": "http://localhost:11434", "responses": str(responses),
            "results": str(responses.with_name("responses.judge-llama3.jsonl")), "entries": 2 + len(not_judged),
            "scored": 2, "missing": [], "not_judged": list(not_judged), "average": average,
            "histogram": [["0-9", 0]], "worst": [], "interrupted": False, "scores": scores}


def mmlu_metrics(accuracy: float) -> dict:
    return {"run": "mmlu", "data": "built-in sample", "model": "/x/checkpoint.pt", "shots": 5, "device": "cpu",
            "correct": 7, "total": 20, "accuracy": accuracy, "chance": 0.25, "subjects": [], "skipped": [],
            "questions": [], "learner": [], "filled_in": [], "wall_s": 2.0}


def make_runs(runs_dir: Path) -> dict[str, Path]:
    """A workspace's runs folder with one of everything, plus the odd folders a real one collects."""
    made = {
        "lr-low": _write(runs_dir / "pretrain-tiny-20261201-100000" / "metrics.json",
                         pretrain_metrics(1e-3, [10.9, 10.5, 9.9, 9.5])).parent,
        "lr-high": _write(runs_dir / "pretrain-tiny-20261201-110000" / "metrics.json",
                          pretrain_metrics(4e-3, [10.9, 10.1, 9.0, 8.25], warmup=2)).parent,
        "stopped": _write(runs_dir / "pretrain-tiny-20261201-120000" / "metrics.json",
                          pretrain_metrics(4e-3, [10.9, 10.1], interrupted=True)).parent,
        "classify": _write(runs_dir / "classify-gpt2-small-20261201-130000" / "metrics.json",
                           classify_metrics(0.9)).parent,
        "instruct": _write(runs_dir / "instruct-gpt2-medium-20261201-140000" / "metrics.json",
                           instruct_metrics(0.65)).parent,
        "mmlu": _write(runs_dir / "mmlu-20261201-150000" / "mmlu.json", mmlu_metrics(0.35)).parent,
    }
    responses = made["instruct"] / "responses.json"
    _write(responses, [])
    made["judge"] = _write(made["instruct"] / "responses.judge-llama3.summary.json",
                           judge_summary(responses, 61.5))
    running = runs_dir / "pretrain-small-20261201-160000"
    running.mkdir(parents=True)
    (running / "checkpoint.pt").write_bytes(b"not read: listing runs never loads torch")
    made["running"] = running
    (runs_dir / "mmlu-20261201-180000").mkdir()  # an mmlu run writes mmlu.json only when it is done
    (runs_dir / "notes").mkdir()  # a folder of the learner's own
    (runs_dir / "notes" / "ideas.txt").write_text("try a larger lr")
    _write(runs_dir / "broken-20261201-170000" / "metrics.json", {"run": "pretrain"}).write_text('{"run": "pre')
    _write(runs_dir / "foreign" / "metrics.json", {"accuracy": 1.0})
    return made

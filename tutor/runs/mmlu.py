"""`tutor run mmlu`: multiple-choice accuracy of a trained checkpoint, with the learner's `choice_logprobs`.

Each question becomes a prompt (optionally after a few solved examples of the same subject, `--shots`), and
each of its four choices is scored by the log-likelihood the model gives the choice's text after it (the
learner's `choice_logprobs`); the best-scored choice is the model's answer. Accuracy is reported per subject
and overall, with the 25% of guessing beside it. The model is the learner's assembled `GPTModel` with the
checkpoint's parameters. Nothing here prints or imports a UI.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from tutor.data.datasets import DataError
from tutor.data.instructions import LETTERS, load_mcq
from tutor.runs import checkpoint as ckpt
from tutor.runs.common import RunError, autocast, default_out, import_piece, prepare_assembly, resolve_device
from tutor.runs.events import Emit, event
from tutor.runs.generate import PRETRAINED, latest_checkpoint
from tutor.runs.models import plain_parameters

CHANCE = 1 / len(LETTERS)
MAX_SHOTS = 5


@dataclass(frozen=True)
class MmluConfig:
    data: str = "builtin"  # builtin | path of a JSON file of questions
    subjects: tuple = ()  # only these subjects (all when empty)
    model: Optional[str] = None  # a checkpoint or run folder; None: the workspace's latest run
    shots: int = 0  # solved examples of the same subject before each question
    device: str = "auto"
    out: Optional[Path] = None
    workspace: Any = None
    use_reference: bool = False


def resolve_model(spec: Optional[str], workspace) -> Path:
    if spec in PRETRAINED:
        raise RunError(f"--model {spec}: OpenAI's GPT-2 weights are not available to this version of tutor run "
                       f"mmlu. Pass a checkpoint of yours (tutor run pretrain writes one).")
    if spec is None:
        found = latest_checkpoint(workspace)
        if found is None:
            raise RunError("No --model given and no run in this workspace yet. Train one with `tutor run "
                           "pretrain`, or pass --model PATH (a checkpoint.pt or its folder).")
        return found
    try:
        return ckpt.checkpoint_file(spec)
    except ckpt.CheckpointError as e:
        raise RunError(f"--model {spec}: {e} Pass a checkpoint.pt or the run folder holding it.") from None


def question_text(q: dict) -> str:
    return f"Question: {q['question']}\nAnswer:"


def build_prompt(q: dict, examples: list[dict]) -> str:
    """The solved examples (each followed by its right answer), then the question."""
    head = "".join(f"{question_text(e)} {e['choices'][e['answer']]}\n\n" for e in examples)
    return head + question_text(q)


def mmlu(cfg: MmluConfig, emit: Emit = lambda e: None) -> dict:
    """Score every question; return the metrics (also written to `<out>/mmlu.json`)."""
    if not 0 <= cfg.shots <= MAX_SHOTS:
        raise RunError(f"--shots must be between 0 and {MAX_SHOTS} (got {cfg.shots}).")
    try:
        label, questions = load_mcq(cfg.data)
    except DataError as e:
        raise RunError(str(e)) from None
    if cfg.subjects:
        known = sorted({q["subject"] for q in questions})
        unknown = [s for s in cfg.subjects if s not in known]
        if unknown:
            raise RunError(f"--subjects: {', '.join(unknown)} not in {label} (it has {', '.join(known)}).")
        questions = [q for q in questions if q["subject"] in cfg.subjects]
    weights = resolve_model(cfg.model, cfg.workspace)
    assembly, note = prepare_assembly(cfg.workspace, cfg.use_reference)
    import torch

    from tutor.data.bpe import gpt2_encoding

    try:
        saved = ckpt.load_checkpoint(weights, mmap=True)
    except ckpt.CheckpointError as e:
        raise RunError(str(e)) from None
    GPTModel = import_piece(assembly, "gpt_model", "GPTModel")
    choice_logprobs = import_piece(assembly, "evaluation", "choice_logprobs")
    device = resolve_device(cfg.device)
    model_cfg = dict(saved["model_cfg"])
    model = GPTModel(model_cfg)
    try:
        ckpt.load_parameters(model, plain_parameters(saved))  # a LoRA run's updates merged in
    except ckpt.CheckpointError as e:
        raise RunError(f"{weights}: {e}") from None
    del saved
    model.to(device).eval()
    tokenizer = gpt2_encoding()
    ctx = model_cfg["context_length"]
    out = Path(cfg.out).expanduser() if cfg.out else default_out(cfg.workspace, "mmlu")
    out.mkdir(parents=True, exist_ok=True)

    emit(event("start", run="mmlu", out=str(out), device=device, filled_in=list(assembly.filled_in),
               total_steps=len(questions), learner=list(assembly.learner), assembly=note, data_label=label,
               model_label=str(weights), shots=cfg.shots,
               scorer=("your choice_logprobs" if "evaluation" in assembly.learner else "the reference choice_logprobs")))
    by_subject: dict[str, list[dict]] = {}
    for q in questions:
        by_subject.setdefault(q["subject"], []).append(q)
    rows, correct, skipped = [], 0, []
    t0 = time.perf_counter()
    for n, q in enumerate(questions):
        others = [e for e in by_subject[q["subject"]] if e is not q]
        shots = cfg.shots
        choices = [" " + q["choices"][letter] for letter in LETTERS]
        longest = max(len(tokenizer.encode(c)) for c in choices)
        while True:  # fewer examples until the prompt and the longest choice fit the context
            prompt = build_prompt(q, others[:shots])
            if len(tokenizer.encode(prompt)) + longest <= ctx or shots == 0:
                break
            shots -= 1
        if len(tokenizer.encode(prompt)) + longest > ctx:
            skipped.append(n)
            rows.append({"index": n, "subject": q["subject"], "skipped": True})
            continue
        with torch.no_grad(), autocast(device):
            scores = [float(s) for s in choice_logprobs(model, tokenizer, prompt, choices, device)]
        picked = LETTERS[max(range(len(LETTERS)), key=scores.__getitem__)]
        ok = picked == q["answer"]
        correct += ok
        rows.append({"index": n, "subject": q["subject"], "answer": q["answer"], "picked": picked, "correct": ok,
                     "scores": scores, "shots": shots})
        done_n = sum(1 for r in rows if not r.get("skipped"))
        emit(event("progress", epoch=1, step=n + 1, total_steps=len(questions), tokens_seen=0, tokens_per_s=0.0,
                   eta_s=(time.perf_counter() - t0) / (n + 1) * (len(questions) - n - 1),
                   accuracy=correct / done_n if done_n else None))
    subjects = []
    for subject in sorted(by_subject):
        scored = [r for r in rows if r["subject"] == subject and not r.get("skipped")]
        if scored:
            c = sum(r["correct"] for r in scored)
            subjects.append({"subject": subject, "correct": c, "total": len(scored), "accuracy": c / len(scored)})
    total = len(rows) - len(skipped)
    if total == 0:
        raise RunError(f"Every question is longer than the model's context of {ctx} tokens; use a model with a "
                       f"longer context_length.")
    metrics = {"run": "mmlu", "data": label, "model": str(weights), "shots": cfg.shots, "device": device,
               "correct": correct, "total": total, "accuracy": correct / total if total else 0.0, "chance": CHANCE,
               "subjects": subjects, "skipped": skipped, "questions": rows, "learner": list(assembly.learner),
               "filled_in": list(assembly.filled_in), "wall_s": time.perf_counter() - t0}
    path = out / "mmlu.json"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    emit(event("done", out=str(out), checkpoint=str(weights), metrics=str(path), correct=correct, total=total,
               accuracy=metrics["accuracy"], chance=CHANCE, subjects=subjects, skipped=len(skipped)))
    return metrics

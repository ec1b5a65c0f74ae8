"""`tutor run mmlu --data builtin` on a tiny random checkpoint: per-subject and overall accuracy that add up,
answers that are the argmax of an independent log-likelihood computation, few-shot prompts that fit the
context, and clear errors."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from tutor.runs.common import RunError
from tutor.runs.mmlu import MmluConfig, build_prompt, mmlu


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    from tutor.exercise_imports import install_exercises_mapping, reference_mapping
    from tutor.runs import checkpoint as ckpt
    from tutor.runs.configs import PRESETS

    install_exercises_mapping(reference_mapping())
    from exercises.gpt_model import GPTModel

    cfg = dict(PRESETS["tiny"].model)
    torch.manual_seed(0)
    model = GPTModel(cfg)
    path = tmp_path_factory.mktemp("run") / "checkpoint.pt"
    ckpt.save_checkpoint(path, {"run": "pretrain", "model": ckpt.parameters(model), "model_cfg": cfg})
    return path, model


def test_accuracy_adds_up_and_answers_are_the_most_likely_choice(tiny_checkpoint, tmp_path):
    path, model = tiny_checkpoint
    events = []
    m = mmlu(MmluConfig(model=str(path.parent), use_reference=True, device="cpu", out=tmp_path / "out"),
             events.append)
    assert m["total"] == 42 and m["chance"] == 0.25 and not m["skipped"]
    assert sum(s["correct"] for s in m["subjects"]) == m["correct"]
    assert sum(s["total"] for s in m["subjects"]) == 42
    assert m["accuracy"] == pytest.approx(m["correct"] / 42)
    assert json.loads((tmp_path / "out" / "mmlu.json").read_text())["correct"] == m["correct"]
    assert [e["step"] for e in events if e["event"] == "progress"][-1] == 42

    # An independent log-likelihood (cross-entropy over the whole sequence) picks the same letters.
    from tutor.data.bpe import gpt2_encoding
    from tutor.data.instructions import load_mcq

    tok = gpt2_encoding()
    model.eval()
    _, questions = load_mcq("builtin")
    for row, q in list(zip(m["questions"], questions))[:6]:
        prompt = tok.encode(build_prompt(q, []))
        lls = []
        for letter in "ABCD":
            ids = torch.tensor(prompt + tok.encode(" " + q["choices"][letter]))
            with torch.no_grad():
                logits = model(ids[None, :-1])[0]
            nll = torch.nn.functional.cross_entropy(logits[len(prompt) - 1:], ids[len(prompt):], reduction="sum")
            lls.append(-nll.item())
        assert row["picked"] == "ABCD"[max(range(4), key=lls.__getitem__)]
        assert row["scores"] == pytest.approx(lls, abs=1e-3)


def test_subjects_and_shots_fit_the_context(tiny_checkpoint, tmp_path):
    path, _ = tiny_checkpoint
    m = mmlu(MmluConfig(model=str(path), subjects=("science", "history"), shots=3, use_reference=True,
                        device="cpu", out=tmp_path / "o"))
    assert {s["subject"] for s in m["subjects"]} == {"science", "history"} and m["total"] == 14
    assert all(0 <= r["shots"] <= 3 for r in m["questions"])  # fewer examples where 3 do not fit 64 tokens


def test_build_prompt_puts_solved_examples_first():
    q = {"question": "2 + 2?", "choices": {"A": "3", "B": "4", "C": "5", "D": "6"}, "answer": "B"}
    e = {"question": "1 + 1?", "choices": {"A": "2", "B": "3", "C": "4", "D": "5"}, "answer": "A"}
    assert build_prompt(q, [e]) == "Question: 1 + 1?\nAnswer: 2\n\nQuestion: 2 + 2?\nAnswer:"


@pytest.mark.parametrize("cfg, words", [
    (MmluConfig(model="gpt2-small", use_reference=True), "gpt2-small.safetensors is not in the cache"),
    (MmluConfig(model=None, use_reference=True), "No --model given"),
    (MmluConfig(model="/nonexistent/run", use_reference=True), "No checkpoint"),
    (MmluConfig(subjects=("astrology",), use_reference=True), "astrology"),
    (MmluConfig(shots=9, use_reference=True), "--shots"),
    (MmluConfig(data="/nonexistent.json", use_reference=True), "no such file"),
])
def test_clear_errors(cfg, words, monkeypatch, tmp_path):
    monkeypatch.setenv("TUTOR_OFFLINE", "1")  # gpt2-small is not downloaded here, and must not be
    monkeypatch.setenv("TUTOR_CACHE", str(tmp_path))
    with pytest.raises(RunError, match=words):
        mmlu(cfg)


def test_cli_reports_subjects_overall_and_chance(tiny_checkpoint, tmp_path):
    from tutor.runs.cli import run_app

    path, _ = tiny_checkpoint
    r = CliRunner().invoke(run_app, ["mmlu", "--data", "builtin", "--model", str(path), "--reference",
                                     "--device", "cpu", "--out", str(tmp_path / "o"), "--subjects", "language"],
                           env={"COLUMNS": "120"})
    assert r.exit_code == 0, r.output
    assert "language" in r.output and "overall" in r.output and "(chance: 25%)" in r.output

"""`--lora RANK` in `tutor run classify` and `tutor run instruct`: only the LoRA matrices (and classify's new
head) train, every pretrained weight stays exactly as it was; the start event and the console report
trainable vs total parameters; a LoRA run resumes, its classifier labels `--text`, and `merge_lora` folds the
updates into plain weights that give the same logits.

Cheap on purpose: a 2-block, 32-dimensional model, 2-5 optimizer steps per run, in-process (CliRunner).
"""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from tutor import paths
from tutor.exercise_imports import install_exercises_mapping, reference_mapping
from tutor.runs import checkpoint as ckpt
from tutor.runs.cli import run_app

CFG = {"vocab_size": 50257, "context_length": 64, "emb_dim": 32, "n_heads": 2, "n_layers": 2, "drop_rate": 0.0,
       "qkv_bias": True}
ENV = {"COLUMNS": "200", "TERM": "dumb", "TUTOR_OFFLINE": "1"}


@pytest.fixture(autouse=True)
def quiet(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TUTOR_WORKSPACE", raising=False)
    monkeypatch.setenv("TUTOR_CACHE", str(tmp_path / "cache"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A 'pretraining' checkpoint of a small random GPT: the weights LoRA must leave alone."""
    install_exercises_mapping(reference_mapping())
    from exercises.gpt_model import GPTModel

    torch.manual_seed(0)
    model = GPTModel(CFG)
    path = tmp_path_factory.mktemp("init") / "checkpoint.pt"
    ckpt.save_checkpoint(path, {"run": "pretrain", "model_cfg": CFG, "model": ckpt.parameters(model)})
    return path, ckpt.parameters(model)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """The learner's lora passes (their copy of the reference)."""
    from tutor.progress import ProgressStore
    from tutor.workspace import init_workspace

    ws = init_workspace(tmp_path_factory.mktemp("ws") / "ws")
    (ws.exercises_dir / "lora.py").write_text((paths.solutions_dir() / "lora.py").read_text())
    ProgressStore(ws.state_dir).record_grade("lora", "passed")
    return ws.root


def invoke(*args: str, events: bool = True):
    r = CliRunner().invoke(run_app, [*args, "--device", "cpu"] + (["--events"] if events else []), env=ENV)
    assert r.exit_code == 0, r.output
    return [json.loads(line) for line in r.stdout.splitlines()] if events else r.stdout


def lora_params(rank: int, cfg: dict, head: bool) -> int:
    """A and B of every Linear layer in the blocks (and of out_head when `head`)."""
    e = cfg["emb_dim"]
    per_block = 4 * rank * (e + e) + rank * (e + 4 * e) + rank * (4 * e + e)
    return cfg["n_layers"] * per_block + (rank * (e + cfg["vocab_size"]) if head else 0)


def assert_frozen_unchanged(saved_model: dict, initial: dict) -> None:
    """Every pretrained weight in the LoRA model (`X.linear.weight` for a wrapped `X.weight`) is untouched."""
    checked = 0
    for name, value in initial.items():
        wrapped = name.replace(".weight", ".linear.weight").replace(".bias", ".linear.bias")
        got = saved_model.get(name, saved_model.get(wrapped))
        if name.startswith("out_head"):
            continue  # classify replaces the head; instruct wraps it (checked through the name above)
        assert got is not None, f"{name} is missing from the LoRA checkpoint"
        assert torch.equal(got, value), f"{name} changed although it is frozen"
        checked += 1
    assert checked == len(initial) - sum(n.startswith("out_head") for n in initial)


def test_lora_classify_trains_only_lora_and_the_head_resumes_and_classifies(pretrained, workspace, tmp_path):
    init, initial = pretrained
    run = tmp_path / "run"
    common = ["classify", "--data", "builtin", "--init", str(init), "--eval-iter", "1", "--batch-size", "4",
              "--seed", "3", "--workspace", str(workspace)]
    events = invoke(*common, "--lora", "4", "--lora-alpha", "8", "--max-steps", "3", "--eval-freq", "2",
                    "--out", str(run))
    start = events[0]
    assert "lora" in start["learner"] and "lora" not in start["filled_in"]  # the learner's replace_linear_with_lora
    head = CFG["emb_dim"] * 2 + 2
    assert start["lora"] == {"rank": 4, "alpha": 8.0, "trainable": lora_params(4, CFG, False) + head,
                             "parameters": start["parameters"]}
    assert start["trainable"] == start["lora"]["trainable"] and start["trainable_setting"] == "lora"
    saved = ckpt.load_checkpoint(run)
    assert saved["settings"]["lora_rank"] == 4 and saved["settings"]["lora_alpha"] == 8.0 and saved["step"] == 3
    assert_frozen_unchanged(saved["model"], initial)
    trained = [n for n in saved["model"] if n.endswith(".lora.B")]
    assert len(trained) == 12 and all(saved["model"][n].abs().sum() > 0 for n in trained)  # B moved off zero

    resumed = invoke("classify", "--resume", str(run), "--max-steps", "5", "--workspace", str(workspace))
    assert resumed[0]["start_step"] == 3 and resumed[0]["lora"]["rank"] == 4
    assert resumed[-1]["event"] == "done" and resumed[-1]["step"] == 5 and resumed[-1]["classifier"]
    after = ckpt.load_checkpoint(run)
    assert after["step"] == 5 and not torch.equal(after["model"]["trf_blocks.0.att.W_query.lora.B"],
                                                  saved["model"]["trf_blocks.0.att.W_query.lora.B"])
    assert not torch.equal(after["model"]["out_head.weight"], saved["model"]["out_head.weight"])  # the head trains
    assert_frozen_unchanged(after["model"], initial)
    with pytest.raises(AssertionError, match="cannot change when resuming"):
        invoke("classify", "--resume", str(run), "--lora", "2", "--workspace", str(workspace))

    labels = invoke("classify", "--model", str(run), "--text", "WIN a FREE prize now, call 0800",
                    "--text", "See you at dinner", "--workspace", str(workspace))
    results = labels[-1]["results"]
    assert [r["label"] in ("spam", "not spam") for r in results] == [True, True]
    assert all(0.0 <= r["spam_probability"] <= 1.0 for r in results)


def test_the_console_reports_lora_trainable_parameters(pretrained, tmp_path):
    init, _ = pretrained
    out = invoke("classify", "--data", "builtin", "--init", str(init), "--eval-iter", "1", "--batch-size", "4",
                 "--lora", "2", "--max-steps", "1", "--out", str(tmp_path / "run"), "--reference", events=False)
    trainable = lora_params(2, CFG, False) + CFG["emb_dim"] * 2 + 2
    assert f"LoRA rank 2, alpha 2: trainable {trainable:,} of " in " ".join(out.split()), out  # wrapped at 80


def test_lora_instruct_trains_only_lora_and_answers(pretrained, tmp_path):
    init, initial = pretrained
    run = tmp_path / "run"
    events = invoke("instruct", "--data", "builtin", "--init", str(init), "--max-steps", "2", "--eval-freq", "2",
                    "--response-tokens", "3", "--batch-size", "2", "--lora", "2", "--out", str(run), "--reference")
    start = events[0]
    assert start["lora"]["trainable"] == start["trainable"] == lora_params(2, CFG, True)
    saved = ckpt.load_checkpoint(run)
    assert saved["settings"]["lora_rank"] == 2
    assert_frozen_unchanged(saved["model"], initial)
    assert torch.equal(saved["model"]["out_head.linear.weight"], initial["out_head.weight"])
    responses = json.loads((run / "responses.json").read_text(encoding="utf-8"))
    assert len(responses) == 15 and all("model_response" in r for r in responses)
    # The LoRA run's checkpoint also serves as plain weights (updates merged in): generate reads it.
    generated = invoke("generate", "--weights", str(run), "--prompt", "Hello", "--max-new-tokens", "3",
                       "--temperature", "0", "--reference")
    assert generated[-1]["event"] == "done" and generated[-1]["cached"] is True


def test_merged_lora_weights_give_the_lora_models_logits():
    from tutor.runs import models
    from tutor.runs.lora_wiring import add_lora, merge_lora

    install_exercises_mapping(reference_mapping())
    from exercises.gpt_model import GPTModel
    from tutor.assemble import assemble

    torch.manual_seed(1)
    model = GPTModel(CFG).eval()
    add_lora(model, assemble(None, use_reference=True), rank=2, alpha=6.0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".lora.B"):
                p.normal_()  # a trained update, not the zero start
    plain = GPTModel(CFG).eval()
    params = ckpt.parameters(model)
    ckpt.load_parameters(plain, merge_lora(params, 2, 6.0))
    ids = torch.randint(0, CFG["vocab_size"], (2, 10))
    with torch.no_grad():
        want, got = model(ids), plain(ids)
    assert (want - got).abs().max() < 1e-4, (want - got).abs().max()
    # ... and load_model reads a LoRA checkpoint as the plain model (generate --weights, --init)
    assert models.plain_parameters({"model": params, "settings": {"lora_rank": 2, "lora_alpha": 6.0}}).keys() \
        == dict(plain.named_parameters()).keys()

"""`tutor run instruct --data builtin` on a tiny scratch model for a few steps, end to end: the 85/10/5 split,
responses.json that `tutor run judge` scores (against the local Ollama stand-in) and a checkpoint that
`tutor run mmlu` reads; `--resume` continuing on the trajectory of an uninterrupted run; `--mask-prompt`."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from tests.runs.ollama_standin import OllamaStandIn
from tutor.runs.cli import run_app

TINY = ["--data", "builtin", "--init", "scratch", "--config", "tiny", "--eval-freq", "2", "--response-tokens", "4",
        "--device", "cpu", "--reference", "--events"]
ENV = {"COLUMNS": "200", "TERM": "dumb", "TUTOR_OFFLINE": "1", "NO_PROXY": "127.0.0.1"}


@pytest.fixture(autouse=True)
def quiet(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no workspace: the reference modules run
    monkeypatch.delenv("TUTOR_WORKSPACE", raising=False)
    monkeypatch.setenv("TUTOR_CACHE", str(tmp_path / "cache"))
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy", "OLLAMA_HOST"):
        monkeypatch.delenv(var, raising=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def instruct(*args: str) -> list[dict]:
    r = CliRunner().invoke(run_app, ["instruct", *TINY, *args], env=ENV)
    assert r.exit_code == 0, r.output
    return [json.loads(line) for line in r.stdout.splitlines()]


def losses(events: list[dict]) -> dict[int, tuple[float, float]]:
    return {e["step"]: (e["train_loss"], e["val_loss"]) for e in events if e["event"] == "eval"}


def test_instruct_then_judge_then_mmlu(tmp_path):
    from tutor.data.instructions import load_instructions

    run = tmp_path / "run"
    events = instruct("--max-steps", "4", "--out", str(run))
    start = events[0]
    assert start["event"] == "start" and start["run"] == "instruct"
    assert (start["train"], start["test"], start["validation"]) == (134, 15, 9)  # 85/10/5 of the 158 built-in
    assert start["total_steps"] == 4 and sorted(losses(events)) == [0, 1, 3, 4]
    done = events[-1]
    assert done["event"] == "done" and not done["interrupted"] and done["step"] == 4

    responses = json.loads((run / "responses.json").read_text(encoding="utf-8"))
    builtin = load_instructions("builtin").entries
    assert len(responses) == 15 and all(set(r) == {"instruction", "input", "output", "model_response"}
                                        for r in responses)
    assert all({k: r[k] for k in ("instruction", "input", "output")} in builtin for r in responses)
    assert [e["model_response"] for e in events if e["event"] == "response"] == [r["model_response"]
                                                                                  for r in responses]
    # The responses are the checkpoint's greedy answers (computed here independently of the run's loop).
    from exercises.gpt_model import GPTModel
    from exercises.instruction_data import format_input
    from tutor.data.bpe import gpt2_encoding
    from tutor.runs import checkpoint as ckpt

    saved = ckpt.load_checkpoint(run)
    assert saved["run"] == "instruct" and saved["step"] == 4
    model = GPTModel(saved["model_cfg"])
    ckpt.load_parameters(model, saved["model"])
    model.eval()
    tok = gpt2_encoding()
    ids = tok.encode(format_input(responses[0]) + "\n\n### Response:\n")
    new = []
    with torch.no_grad():
        for _ in range(4):
            nxt = int(model(torch.tensor([ids + new])[:, -64:])[0, -1].argmax())
            if nxt == 50256:
                break
            new.append(nxt)
    assert responses[0]["model_response"] == tok.decode(new).replace("### Response:", "").strip()

    # tutor run judge scores the file through the stand-in for Ollama's HTTP API.
    with OllamaStandIn(lambda prompt: (0.0, "Score: 40/100")) as server:
        r = CliRunner().invoke(run_app, ["judge", str(run / "responses.json"), "--host", server.url, "--reference"],
                               env=ENV)
    assert r.exit_code == 0, r.output
    assert len(server.chats) == 15 and "Average score: 40.0" in r.output

    # tutor run mmlu reads the run's checkpoint.
    r = CliRunner().invoke(run_app, ["mmlu", "--data", "builtin", "--model", str(run), "--out", str(tmp_path / "m"),
                                     "--device", "cpu", "--reference"], env=ENV)
    assert r.exit_code == 0, r.output
    m = json.loads((tmp_path / "m" / "mmlu.json").read_text())
    assert m["model"] == str(run / "checkpoint.pt") and m["total"] == 42

    # Stopped at step 2 (what Ctrl-C does: the loop is asked to stop) and resumed, the run saves a checkpoint,
    # writes no responses yet, and then reports the uninterrupted run's losses and its responses.
    import threading

    from tutor.runs.instruct import InstructConfig, instruct as run_instruct

    stop = threading.Event()

    def emit(ev):
        if ev["event"] == "progress" and ev["step"] == 2:
            stop.set()

    first = run_instruct(InstructConfig(init="scratch", config="tiny", max_steps=4, eval_freq=2, response_tokens=4,
                                        device="cpu", out=tmp_path / "r2", use_reference=True), emit, stop=stop)
    assert first.interrupted and first.step == 2 and first.responses is None
    assert not (tmp_path / "r2" / "responses.json").exists()
    r = CliRunner().invoke(run_app, ["instruct", "--resume", str(tmp_path / "r2"),
                                     "--events", "--device", "cpu", "--reference"], env=ENV)
    assert r.exit_code == 0, r.output
    resumed = [json.loads(line) for line in r.stdout.splitlines()]
    assert resumed[0]["start_step"] == 2 and resumed[-1]["step"] == 4
    assert losses(resumed)[4] == pytest.approx(losses(events)[4], abs=1e-5)
    assert losses(resumed)[3] == pytest.approx(losses(events)[3], abs=1e-5)
    assert json.loads((tmp_path / "r2" / "responses.json").read_text(encoding="utf-8")) == responses


def test_mask_prompt_hides_the_prompt_targets_only():
    from tutor.exercise_imports import install_exercises_mapping, reference_mapping

    install_exercises_mapping(reference_mapping())
    from exercises.instruction_data import custom_collate_fn

    from tutor.runs.instruct import make_collate

    batch = [([1, 2, 3, 4, 5], 3), ([6, 7, 8], 2)]
    _, plain = make_collate(custom_collate_fn, 64, mask_prompt=False)(batch)
    inputs, masked = make_collate(custom_collate_fn, 64, mask_prompt=True)(batch)
    assert plain.tolist() == [[2, 3, 4, 5, 50256], [7, 8, 50256, -100, -100]]
    # The targets that predict prompt tokens (all but the last prompt token's) are ignored; the answer stays.
    assert masked.tolist() == [[-100, -100, 4, 5, 50256], [-100, 8, 50256, -100, -100]]
    assert inputs.tolist() == [[1, 2, 3, 4, 5], [6, 7, 8, 50256, 50256]]


def test_errors_are_clear(tmp_path):
    runner = CliRunner()
    r = runner.invoke(run_app, ["instruct", "--init", "gpt2-small", "--config", "tiny", "--device", "cpu",
                                "--reference"], env=ENV)
    assert r.exit_code == 1 and "--init scratch" in r.output and "Traceback" not in r.output
    bad = tmp_path / "few.json"
    bad.write_text(json.dumps([{"instruction": "a", "input": "", "output": "b"}] * 5), encoding="utf-8")
    r = runner.invoke(run_app, ["instruct", "--data", str(bad), "--init", "scratch", "--device", "cpu",
                                "--reference"], env=ENV)
    assert r.exit_code == 1 and "fewer than one batch" in r.output 
    assert not list((tmp_path / "tutor-runs").glob("instruct-*"))  # no empty run folder left behind



def test_model_answers_one_instruction_with_the_alpaca_prompt(tmp_path):
    """`instruct --model RUN --instruction … [--input …]`: the Alpaca prompt, the greedy answer streamed as tokens,
    the cleaned response in `done` (a tiny random checkpoint written here: no training needed)."""
    from tutor.exercise_imports import install_exercises_mapping, reference_mapping
    from tutor.runs import checkpoint as ckpt
    from tutor.runs.configs import preset

    install_exercises_mapping(reference_mapping())
    from exercises.gpt_model import GPTModel
    from exercises.instruction_data import format_input

    from tutor.data.bpe import gpt2_encoding

    cfg = dict(preset("tiny").model)
    torch.manual_seed(0)
    model = GPTModel(cfg)
    run = tmp_path / "instruct-run"
    ckpt.save_checkpoint(run / ckpt.FILENAME, {"run": "instruct", "model": ckpt.parameters(model), "model_cfg": cfg,
                                               "settings": {"response_tokens": 6}})
    r = CliRunner().invoke(run_app, ["instruct", "--model", str(run), "--instruction", "Rewrite politely.",
                                     "--input", "Give me the salt.", "--device", "cpu", "--reference", "--events"],
                           env=ENV)
    assert r.exit_code == 0, r.output
    events = [json.loads(line) for line in r.stdout.splitlines()]
    start, done = events[0], events[-1]
    entry = {"instruction": "Rewrite politely.", "input": "Give me the salt."}
    assert start["event"] == "start" and start["run"] == "chat" and start["instruction"] == entry["instruction"]
    assert start["prompt"] == format_input(entry) + "\n\n### Response:\n" and "### Input:\nGive me the salt." in \
        start["prompt"]
    assert done["event"] == "done" and "".join(e["text"] for e in events if e["event"] == "token") == done["text"]
    assert done["response"] == done["text"].replace("### Response:", "").strip()
    # The answer is the checkpoint's greedy continuation, at most the run's own 6 response tokens.
    model.eval()
    tok = gpt2_encoding()
    ids, new = tok.encode(start["prompt"]), []
    with torch.no_grad():
        for _ in range(6):
            nxt = int(model(torch.tensor([ids + new])[:, -64:])[0, -1].argmax())
            if nxt == 50256:
                break
            new.append(nxt)
    assert done["tokens"] == len(new) and done["text"] == tok.decode(new)

    # Clear one-line errors: half the options, a classifier instead of an instruct run.
    r = CliRunner().invoke(run_app, ["instruct", "--instruction", "Hi", "--reference"], env=ENV)
    assert r.exit_code == 2 and "--model RUN_DIR and --instruction" in r.output
    (tmp_path / "clf").mkdir()
    (tmp_path / "clf" / "classifier.pt").write_bytes(b"x")
    r = CliRunner().invoke(run_app, ["instruct", "--model", str(tmp_path / "clf"), "--instruction", "Hi",
                                     "--reference"], env=ENV)
    assert r.exit_code == 1 and "spam classifier" in r.output and "Traceback" not in r.output

"""`tutor run pretrain` / `tutor run generate` end to end, as child processes (the way the TUI runs them):
a few steps of `tiny` on the built-in stories learn something and leave a checkpoint, a plot and metrics;
they report the same losses as the learner's own `train_model_simple` with the same seed; Ctrl-C (SIGINT to
the child) leaves a checkpoint that loads with weights_only=True; `--resume` continues on exactly the
trajectory of the uninterrupted run; generate streams tokens.

Kept small on purpose (two CPU cores, the whole file in well under a minute of training).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tutor import paths

STEPS, EVAL_FREQ = 12, 3
COMMON = ["--config", "tiny", "--data", "builtin", "--max-steps", str(STEPS), "--eval-freq", str(EVAL_FREQ),
          "--eval-iter", "2", "--sample-tokens", "8", "--device", "cpu", "--seed", "7"]
CONTRACT = {  # keys the TUI relies on (tutor.runs.events)
    "start": {"run", "out", "device", "filled_in", "total_steps"},
    "progress": {"epoch", "step", "total_steps", "tokens_seen", "tokens_per_s", "eta_s"},
    "eval": {"step", "train_loss", "val_loss", "tokens_seen"},
    "sample": {"step", "text"},
    "checkpoint": {"path"},
    "done": {"out", "checkpoint", "metrics"},
    "token": {"text"},
}


def tutor_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "tutor", *args]


def child_env(tmp_path: Path) -> dict:
    env = dict(os.environ)
    env.update({"COLUMNS": "200", "TERM": "dumb", "TUTOR_OFFLINE": "1", "OMP_NUM_THREADS": "2",
                "TUTOR_CACHE": str(tmp_path / "cache"), "PYTHONUNBUFFERED": "1"})
    env.pop("TUTOR_WORKSPACE", None)
    return env


def parse_events(stdout: str) -> list[dict]:
    events = []
    for line in stdout.splitlines():
        events.append(json.loads(line))  # stdout must hold nothing but JSON lines
    for ev in events:
        missing = CONTRACT.get(ev["event"], set()) - ev.keys()
        assert not missing, f"{ev['event']} event lacks {missing}: {ev}"
    return events


def losses(events: list[dict]) -> dict[int, tuple[float, float]]:
    return {e["step"]: (e["train_loss"], e["val_loss"]) for e in events if e["event"] == "eval"}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A workspace where only `loss` passes, with a learner's loss.py that prints at import."""
    from tutor.progress import ProgressStore
    from tutor.workspace import init_workspace

    ws = init_workspace(tmp_path_factory.mktemp("ws") / "ws")
    source = (paths.solutions_dir() / "loss.py").read_text()
    (ws.exercises_dir / "loss.py").write_text('print("hello from your loss.py")\n' + source)
    ProgressStore(ws.state_dir).record_grade("loss", "passed")
    return ws.root


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, workspace):
    """The uninterrupted run every other test compares with."""
    tmp = tmp_path_factory.mktemp("full")
    out = tmp / "run"
    proc = subprocess.run(tutor_cmd("run", "pretrain", *COMMON, "--out", str(out), "--events",
                                    "--workspace", str(workspace)),
                          capture_output=True, text=True, timeout=300, env=child_env(tmp))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, parse_events(proc.stdout), proc


def test_tiny_run_learns_and_writes_checkpoint_plot_and_metrics(full_run):
    out, events, proc = full_run
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done", kinds
    start = events[0]
    assert start["total_steps"] == STEPS and start["device"] == "cpu"
    assert start["learner"] == ["loss"] and "loss" not in start["filled_in"] and "gpt_model" in start["filled_in"]
    assert "hello from your loss.py" in proc.stderr, "the learner's prints go to stderr, not into the JSON stream"

    seen = losses(events)
    assert sorted(seen) == [0, 1, 4, 7, 10, 12], seen  # before training, the course's schedule, the end
    assert seen[12][0] < seen[0][0] - 0.5, f"train loss did not fall: {seen}"
    assert seen[12][1] < seen[0][1] - 0.3, f"validation loss did not fall: {seen}"
    steps = [e["step"] for e in events if e["event"] == "progress"]
    assert steps == sorted(steps) and steps[-1] == STEPS
    assert [e["step"] for e in events if e["event"] == "sample"] == [1, 4, 7, 10, 12]
    assert all(e["text"].startswith("The lighthouse keeper") for e in events if e["event"] == "sample")

    done = events[-1]
    assert done["checkpoint"] == str(out / "checkpoint.pt") and done["interrupted"] is False
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics = json.loads(Path(done["metrics"]).read_text())
    assert metrics["step"] == STEPS and [e["step"] for e in metrics["evals"]] == [0, 1, 4, 7, 10, 12]
    assert metrics["val_loss"] == pytest.approx(seen[12][1])


TRAIN_MODEL_SIMPLE = """
import json, sys
from pathlib import Path
from tutor.assemble import assemble
from tutor.exercise_imports import install_exercises_mapping
from tutor.workspace import Workspace
install_exercises_mapping(assemble(Workspace(Path(sys.argv[1]))).mapping)
import torch
from tutor.data.bpe import gpt2_encoding
from tutor.data.datasets import builtin_text
from tutor.runs.configs import preset
from exercises.dataloader import create_dataloader_v1
from exercises.gpt_model import GPTModel
from exercises.training import train_model_simple

p = preset("tiny")
text, ctx = builtin_text(), p.model["context_length"]
split = int(0.9 * len(text))
torch.manual_seed(7)
train = create_dataloader_v1(text[:split], batch_size=p.batch_size, max_length=ctx, stride=ctx, shuffle=True,
                             drop_last=True, num_workers=0)
val = create_dataloader_v1(text[split:], batch_size=p.batch_size, max_length=ctx, stride=ctx, shuffle=False,
                           drop_last=False, num_workers=0)
model = GPTModel(dict(p.model))
opt = torch.optim.AdamW(model.parameters(), lr=p.lr, weight_decay=p.weight_decay)
result = train_model_simple(model, train, val, opt, "cpu", num_epochs=1, eval_freq=3, eval_iter=2,
                            start_context="The", tokenizer=gpt2_encoding())
print("RESULT", json.dumps(result))
"""


def test_the_run_reports_what_train_model_simple_reports(full_run, workspace, tmp_path):
    """Same seed, same pieces: tutor's loop and the course's train_model_simple see the same losses."""
    _, events, _ = full_run
    proc = subprocess.run([sys.executable, "-c", TRAIN_MODEL_SIMPLE, str(workspace)], capture_output=True,
                          text=True, timeout=300, env=child_env(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))
    train_losses, val_losses, tokens_seen = json.loads(line.removeprefix("RESULT "))
    ours = {e["step"]: e for e in events if e["event"] == "eval"}
    for i, step in enumerate([1, 4, 7, 10]):  # train_model_simple's global steps 0, 3, 6, 9
        assert (ours[step]["train_loss"], ours[step]["val_loss"]) == pytest.approx(
            (train_losses[i], val_losses[i]), rel=1e-5, abs=1e-6), f"step {step}"
        assert ours[step]["tokens_seen"] == tokens_seen[i]


def test_checkpoint_loads_with_weights_only(full_run):
    import torch

    out, _, _ = full_run
    data = torch.load(out / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert data["step"] == STEPS and data["format"] == "tutor-checkpoint"
    assert {"model", "optimizer", "rng", "epoch_rng", "settings", "history", "model_cfg"} <= data.keys()
    assert "tok_emb.weight" in data["model"] and "out_head.weight" in data["model"]
    assert not any(k.endswith(".mask") for k in data["model"]), "buffers are rebuilt by the model, not saved"
    assert isinstance(data["rng"]["torch"], torch.Tensor)


def test_sigint_saves_a_checkpoint_and_resume_repeats_the_uninterrupted_run(full_run, workspace, tmp_path):
    import torch

    _, full_events, _ = full_run
    out = tmp_path / "run"
    env = child_env(tmp_path)
    child = subprocess.Popen(tutor_cmd("run", "pretrain", *COMMON, "--out", str(out), "--events",
                                       "--workspace", str(workspace)),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines, checkpoints = [], 0
    try:
        for line in child.stdout:  # wait for the second checkpoint (step 4), then press Ctrl-C
            lines.append(line)
            checkpoints += json.loads(line)["event"] == "checkpoint"
            if checkpoints == 2:
                child.send_signal(signal.SIGINT)
                break
        rest, stderr = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 130, stderr[-3000:]
    events = parse_events("".join(lines) + rest)
    done = events[-1]
    assert done["event"] == "done" and done["interrupted"] is True, events[-3:]
    stopped_at = done["step"]
    assert 4 <= stopped_at < STEPS
    assert done["resume"] == f"tutor run pretrain --resume {out / 'checkpoint.pt'}"
    data = torch.load(out / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert data["step"] == stopped_at

    # Resume in the human (rich) display: it continues in the same folder and finishes.
    resumed = subprocess.run(tutor_cmd("run", "pretrain", "--resume", str(out), "--workspace", str(workspace)),
                             capture_output=True, text=True, timeout=300, env=env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Done:" in resumed.stdout and f"resuming at step {stopped_at}" in resumed.stdout, resumed.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["step"] == STEPS
    got = {e["step"]: (e["train_loss"], e["val_loss"]) for e in metrics["evals"]}
    want = losses(full_events)
    assert sorted(got) == sorted(want)
    for step in want:
        assert got[step] == pytest.approx(want[step], rel=1e-5, abs=1e-6), \
            f"step {step}: resumed run {got[step]}, uninterrupted run {want[step]} (stopped at {stopped_at})"


def test_generate_streams_tokens_from_the_checkpoint(full_run, workspace, tmp_path):
    out, _, _ = full_run
    proc = subprocess.run(tutor_cmd("run", "generate", "--weights", str(out), "--prompt", "The cat",
                                    "--max-new-tokens", "8", "--seed", "1", "--device", "cpu", "--events",
                                    "--workspace", str(workspace)),
                          capture_output=True, text=True, timeout=120, env=child_env(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = parse_events(proc.stdout)
    assert events[0]["event"] == "start" and events[-1]["event"] == "done"
    tokens = [e["text"] for e in events if e["event"] == "token"]
    assert 1 <= len(tokens) <= 8
    assert "".join(tokens) == events[-1]["text"]
    assert events[-1]["checkpoint"] == str(out / "checkpoint.pt") and events[-1]["tokens"] >= len(tokens)

    human = subprocess.run(tutor_cmd("run", "generate", "--weights", str(out / "checkpoint.pt"), "--prompt",
                                     "The cat", "--max-new-tokens", "8", "--seed", "1", "--device", "cpu",
                                     "--workspace", str(workspace)),
                           capture_output=True, text=True, timeout=120, env=child_env(tmp_path))
    assert human.returncode == 0, human.stderr[-3000:]
    assert "The cat" + events[-1]["text"] in human.stdout, human.stdout


def test_bad_options_fail_cleanly(tmp_path):
    proc = subprocess.run(tutor_cmd("run", "generate", "--weights", str(tmp_path / "nothing"), "--prompt", "x",
                                    "--events"),
                          capture_output=True, text=True, timeout=120, env=child_env(tmp_path), cwd=tmp_path)
    assert proc.returncode == 1
    events = parse_events(proc.stdout)
    assert events[-1]["event"] == "error" and "No checkpoint" in events[-1]["message"], events

    (tmp_path / "short.txt").write_text("A text far too short to train on. " * 4)
    proc = subprocess.run(tutor_cmd("run", "pretrain", "--data", str(tmp_path / "short.txt"), "--events"),
                          capture_output=True, text=True, timeout=120, env=child_env(tmp_path), cwd=tmp_path)
    assert proc.returncode == 1
    events = parse_events(proc.stdout)
    assert events == [{"event": "error", "message": events[0]["message"]}]
    assert "too short" in events[0]["message"] and "--batch-size" in events[0]["message"], events


def test_a_run_refuses_modules_that_do_not_work_together(tmp_path):
    """The assembly check runs before every run: a 'passed' exercise edited into a wrong one stops the run."""
    from tutor import curriculum
    from tutor.progress import ProgressStore
    from tutor.workspace import init_workspace

    ws = init_workspace(tmp_path / "ws")
    layers = curriculum.load().get("layers")
    wrong = layers.solution_path.read_text().replace("unbiased=False", "unbiased=True")
    assert wrong != layers.solution_path.read_text()
    (ws.exercises_dir / layers.module).write_text(wrong)
    ProgressStore(ws.state_dir).record_grade("layers", "passed")  # passed earlier, edited since
    out = subprocess.run(tutor_cmd("run", "pretrain", *COMMON, "--workspace", str(ws.root)), capture_output=True,
                         text=True, env=child_env(tmp_path), timeout=300)
    assert out.returncode != 0
    text = out.stdout + out.stderr
    assert "do not work together" in text and "layers" in text, text[-2000:]
    assert "--reference" in text

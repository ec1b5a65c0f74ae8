"""`tutor run classify` end to end on the built-in messages with the `tiny` model: one epoch learns (beats the
majority class), writes metrics.json, the split CSVs, curves and a classifier that loads with
weights_only=True; `--model RUN --text` classifies with it; a stopped run resumes on the uninterrupted run's
trajectory; the learner's classifier module is the one that runs; bad options fail in one line.

Kept small on purpose (two CPU cores): one 37-step run, and a few runs of 8 steps.
"""

from __future__ import annotations

import csv
import json
import subprocess
import threading

import pytest

from tests.runs.test_pretrain_cli import child_env, parse_events, tutor_cmd
from tutor import paths

CONTRACT_EXTRA = {  # classify's own keys on top of the shared event contract
    "start": {"split", "max_length", "trainable", "token"},
    "eval": {"train_acc", "val_acc"},
    "progress": {"examples_per_s"},
    "done": {"accuracy", "confusion_matrix", "classifier"},
}
COMMON = ["--data", "builtin", "--config", "tiny", "--device", "cpu", "--seed", "5", "--eval-iter", "2",
          "--batch-size", "8"]  # steps small enough that one epoch learns (the default from scratch is 32)
# Seconds on a quiet 2-core machine; much more when it is shared.
pytestmark = pytest.mark.timeout(1200)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A workspace where the learner's classifier passes (their copy of the reference, with a print)."""
    from tutor.progress import ProgressStore
    from tutor.workspace import init_workspace

    ws = init_workspace(tmp_path_factory.mktemp("ws") / "ws")
    source = (paths.solutions_dir() / "classifier.py").read_text()
    (ws.exercises_dir / "classifier.py").write_text('print("hello from your classifier.py")\n' + source)
    ProgressStore(ws.state_dir).record_grade("classifier", "passed")
    return ws.root


@pytest.fixture(scope="module")
def one_epoch(tmp_path_factory, workspace):
    tmp = tmp_path_factory.mktemp("epoch")
    out = tmp / "run"
    # COMMON's batch 8: one epoch is 37 steps, enough to learn (the default 32 gives 9, which do not here).
    proc = subprocess.run(tutor_cmd("run", "classify", *COMMON, "--epochs", "1", "--eval-freq", "10", "--out",
                                    str(out), "--events", "--workspace", str(workspace)),
                          capture_output=True, text=True, timeout=600, env=_env(tmp))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, parse_events(proc.stdout), proc, tmp


def test_one_epoch_learns_and_writes_metrics_curves_splits_and_classifier(one_epoch):
    out, events, proc, _ = one_epoch
    for ev in events:
        missing = CONTRACT_EXTRA.get(ev["event"], set()) - ev.keys()
        assert not missing, f"{ev['event']} event lacks {missing}"
    start = events[0]
    assert start["event"] == "start" and "classifier" in start["learner"] and "classifier" not in start["filled_in"]
    assert start["split"] == {"train": 298, "validation": 42, "test": 86}
    assert "hello from your classifier.py" in proc.stderr  # the learner's module ran (its prints go to stderr)
    metrics = json.loads((out / "metrics.json").read_text())
    test_acc = metrics["test_accuracy"]
    # Balanced data: always answering one class scores 50%. One epoch of tiny must clearly beat that.
    assert test_acc >= 0.75, metrics
    cm = metrics["confusion_matrix"]
    assert cm["true_positives"] + cm["false_negatives"] + cm["false_positives"] + cm["true_negatives"] == 86
    assert abs((cm["true_positives"] + cm["true_negatives"]) / 86 - test_acc) < 1e-9
    assert metrics["settings"]["trainable"] == "all" and metrics["trainable_parameters"] == metrics["parameters"]
    assert [e["step"] for e in events if e["event"] == "eval"] == [0, 10, 20, 30, 37]
    for name in ("loss.png", "accuracy.png", "classifier.pt", "checkpoint.pt"):
        assert (out / name).is_file(), name
    with open(out / "data" / "train.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 298 and set(rows[0]) == {"Label", "Text"} and {r["Label"] for r in rows} == {"0", "1"}


def test_the_classifier_loads_with_weights_only(one_epoch):
    import torch

    out = one_epoch[0]
    saved = torch.load(out / "classifier.pt", weights_only=True)
    assert saved["run"] == "classify-model" and saved["max_length"] == 45
    assert tuple(saved["model"]["out_head.weight"].shape) == (2, 64) and "out_head.bias" in saved["model"]


def test_text_and_file_are_classified_with_the_trained_model(one_epoch, workspace):
    out, _, _, tmp = one_epoch
    messages = tmp / "messages.txt"
    messages.write_text("see you at the station at 7\n\nURGENT! You have won a £900 prize, call 09061234567 now\n")
    proc = subprocess.run(tutor_cmd("run", "classify", "--model", str(out), "--text", "You won a free cruise! "
                                    "Reply YES", "--file", str(messages), "--workspace", str(workspace)),
                          capture_output=True, text=True, timeout=300, env=_env(tmp))
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if "spam probability" in line]
    assert len(lines) == 3, proc.stdout
    assert all(line.startswith(("spam ", "not spam ")) for line in lines), proc.stdout
    assert "URGENT!" in lines[2] and lines[2].startswith("spam "), proc.stdout  # a plain one, after an epoch


def _env(tmp):
    # One thread: on a shared machine, two OpenMP threads per run made each small step ten times slower.
    return dict(child_env(tmp), OMP_NUM_THREADS="1")


def _run(tmp, **kwargs):
    from tutor.runs.classify import ClassifyConfig, classify_run
    from tutor.runs.events import Recorder

    rec = Recorder()
    stop = kwargs.pop("stop", None)
    if stop is not None:
        def forward(ev):  # stop as soon as the first step reports progress
            if ev["event"] == "progress":
                stop.set()
        rec.forward = forward
    cfg = ClassifyConfig(data="builtin", config="tiny", seed=3, device="cpu", eval_iter=1, eval_freq=4,
                         use_reference=True, **kwargs)
    return classify_run(cfg, rec, stop=stop), rec


def _evals(rec):
    return {e["step"]: (e["train_loss"], e["val_loss"], e["train_acc"], e["val_acc"]) for e in rec.of("eval")}


def test_a_stopped_run_resumes_on_the_uninterrupted_trajectory(tmp_path):
    full, full_rec = _run(tmp_path, max_steps=8, out=tmp_path / "full")
    half, _ = _run(tmp_path, max_steps=4, out=tmp_path / "half")
    assert half.step == 4 and half.checkpoint is not None
    resumed, resumed_rec = _run(tmp_path, max_steps=8, resume=tmp_path / "half")
    assert resumed.out == tmp_path / "half" and resumed.step == 8
    want, got = _evals(full_rec), _evals(resumed_rec)
    assert got[8] == pytest.approx(want[8], abs=1e-6), (got, want)
    assert resumed.accuracy == pytest.approx(full.accuracy, abs=1e-9)


def test_a_stop_request_saves_a_checkpoint_and_says_how_to_resume(tmp_path):
    result, rec = _run(tmp_path, max_steps=8, out=tmp_path / "stopped", stop=threading.Event())
    assert result.interrupted and result.step < 8 and result.classifier is None
    assert rec.of("checkpoint")[-1]["reason"] in ("interrupt", "eval")
    done = rec.of("done")[0]
    assert done["resume"] == f"tutor run classify --resume {tmp_path / 'stopped' / 'checkpoint.pt'}"


def test_first_token_and_last_block_settings_are_applied(tmp_path):
    result, rec = _run(tmp_path, max_steps=2, out=tmp_path / "first", token="first", trainable="last-block")
    start = rec.of("start")[0]
    assert start["token"] == "first" and start["trainable_setting"] == "last-block"
    assert start["trainable"] < start["parameters"]
    metrics = json.loads(result.metrics.read_text())
    assert metrics["settings"]["token"] == "first" and metrics["test_accuracy"] is not None


@pytest.mark.parametrize("args, words", [
    (["--trainable", "some"], "--trainable some: choose one of last-block, last-two-blocks, all"),
    (["--token", "middle"], "--token middle: choose last or first"),
    (["--data", "nope.csv"], "--data nope.csv: no such file, and not builtin or sms-spam"),
    (["--text", "hello"], "--text and --file need --model"),
    (["--model", "nowhere", "--text", "hi"], "--model nowhere: no classifier.pt there"),
])
def test_bad_options_fail_in_one_clear_line(tmp_path, args, words):
    proc = subprocess.run(tutor_cmd("run", "classify", *args, "--reference", "--out", str(tmp_path / "o")),
                          capture_output=True, text=True, timeout=300, env=_env(tmp_path), cwd=tmp_path)
    assert proc.returncode in (1, 2), proc.stdout + proc.stderr
    text = " ".join((proc.stdout + proc.stderr).split())
    assert words in text and "Traceback" not in text, text

"""Train and Playground drive child `tutor run …` processes; here a fake run script speaks the same JSON-lines
contract (tests/ui/fake_run.py), so these tests need neither torch nor minutes of training."""

from __future__ import annotations

import json
import os
import sys

import pytest

from tutor.ui.app import make_app
from tutor.ui.run_process import ChildRun, RunLauncher, parse_event
from tutor.ui.screens.playground import PlaygroundScreen
from tutor.ui.screens.train import TrainScreen
from tutor.ui.widgets.loss_plot import LossPlot

from .conftest import drive, text_of, wait_until


def test_run_command_lines_follow_the_runs_contract(tmp_path):
    launcher = RunLauncher()
    assert launcher.pretrain(tmp_path, config="tiny", epochs=2, device="cpu") == [
        sys.executable, "-m", "tutor", "run", "pretrain", "--config", "tiny", "--data", "builtin", "--events",
        "--epochs", "2", "--device", "cpu", "--workspace", str(tmp_path)]
    argv = launcher.generate(tmp_path, weights="gpt2-small", prompt="Hi", max_new_tokens=5, temperature=0.7,
                             top_k=0)
    assert argv[4:] == ["generate", "--weights", "gpt2-small", "--prompt", "Hi", "--max-new-tokens", "5",
                        "--temperature", "0.7", "--top-k", "0", "--events", "--workspace", str(tmp_path)]
    assert launcher.classify_text(tmp_path, model="RUN", text="-free- cruise")[4:] == [
        "classify", "--model", "RUN", "--text", "-free- cruise", "--events", "--workspace", str(tmp_path)]
    assert launcher.chat(tmp_path, model="RUN", instruction="Be brief.", input_text="x", response_tokens=9)[4:] == [
        "instruct", "--model", "RUN", "--instruction", "Be brief.", "--input", "x", "--response-tokens", "9",
        "--events", "--workspace", str(tmp_path)]
    assert "--input" not in launcher.chat(tmp_path, model="RUN", instruction="Hi")
    assert parse_event('{"event": "token", "text": "a"}') == {"event": "token", "text": "a"}
    assert parse_event("Traceback (most recent call last):") == {"event": "log",
                                                                  "text": "Traceback (most recent call last):"}
    assert parse_event("[1, 2]")["event"] == "log"


def test_start_and_stop_a_training_run(workspace, fake_launcher, monkeypatch):
    monkeypatch.setenv("FAKE_RUN_STEPS", "100000")  # runs until stopped
    monkeypatch.setenv("FAKE_RUN_STEP_S", "0.05")

    async def scenario():
        app = make_app(workspace, launcher=fake_launcher, start_grader=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("3")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, TrainScreen)
            await pilot.press("s")
            await wait_until(pilot, lambda: len(screen.query_one(LossPlot).train) >= 2, what="two evals")
            assert "Training (pretrain) on cpu" in text_of(screen.query_one("#run-status"))
            assert "training" in text_of(screen.query_one("#run-status")), "says what was filled in"
            stats = text_of(screen.query_one("#run-stats"))
            assert "tokens/s 12.8k" in stats and "ETA" in stats and "train" in stats, stats
            assert "Every effort moves you" in text_of(screen.query_one("#sample"))
            assert screen.query_one("#stop").disabled is False
            await pilot.press("x")
            await wait_until(pilot, lambda: not screen.running and screen.query_one("#stop").disabled,
                             what="the run to stop")
            assert screen.checkpoint and screen.checkpoint.endswith("model.pt")
            status = text_of(screen.query_one("#run-status"))
            assert status.startswith("Stopped.") and ".tutor/runs/" in status and "model.pt" in status, status
            assert screen.events[-1]["event"] == "done" and screen.events[-1]["metrics"]["stopped"] is True

    drive(scenario)


def test_a_failing_run_says_why(workspace, fake_launcher, monkeypatch):
    monkeypatch.setenv("FAKE_RUN_FAIL", "1")

    async def scenario():
        app = make_app(workspace, launcher=fake_launcher, start_grader=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("3", "s")
            screen = app.screen
            await wait_until(pilot, lambda: screen.run is not None and not screen.running
                             and not screen.query_one("#start").disabled, what="the run to end")
            assert "out of memory (pretend)" in text_of(screen.query_one("#run-status"))
            assert screen.query_one("#run-status").has_class("-error")

    drive(scenario)


def test_quitting_during_a_run_asks_and_stops_it(workspace, fake_launcher, monkeypatch):
    monkeypatch.setenv("FAKE_RUN_STEPS", "100000")
    monkeypatch.setenv("FAKE_RUN_STEP_S", "0.2")
    runs: list[ChildRun] = []

    async def scenario():
        app = make_app(workspace, launcher=fake_launcher, start_grader=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("3", "s")
            await wait_until(pilot, lambda: app.screen.events, what="the run to start")
            runs.extend(app.child_runs)
            await pilot.press("q")
            await pilot.pause()
            assert type(app.screen).__name__ == "ConfirmScreen"
            await pilot.press("y")
            await pilot.pause()
        assert runs and not runs[0].running, "the child run was stopped on quit"
        ckpts = list(workspace.runs_dir.rglob("model.pt"))
        assert ckpts, "stopping on quit saved a checkpoint"

    drive(scenario)


def test_playground_streams_a_continuation(workspace, fake_launcher, monkeypatch, tmp_path):
    log = tmp_path / "argv.jsonl"
    monkeypatch.setenv("FAKE_RUN_LOG", str(log))
    ckpt = workspace.runs_dir / "pretrain-earlier" / "model.pt"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"x")

    async def scenario():
        app = make_app(workspace, launcher=fake_launcher, start_grader=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("4")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, PlaygroundScreen)
            assert screen.query_one("#weights").value == str(ckpt), "the newest checkpoint is preselected"
            for widget_id, value in [("temperature", "0.5"), ("top-k", "5"), ("max-tokens", "6")]:
                screen.query_one(f"#{widget_id}").value = value
            screen.query_one("#prompt").value = "The keeper"
            screen.query_one("#prompt").focus()
            await pilot.press("enter")
            await wait_until(pilot, lambda: not screen.running and "Done" in text_of(screen.query_one("#gen-status")),
                             what="the generation")
            out = text_of(screen.query_one("#output"))
            assert out == "The keeper and the lighthouse keeper counted seven", out
            status = text_of(screen.query_one("#gen-status"))
            assert status == "Done. 6 tokens in 0.0 s · 200 tok/s", status  # the done event's count and speed
            await pilot.press("escape")  # leaves the prompt field: keys navigate again
            await pilot.press("1")
            await pilot.pause()
            assert app.current_mode == "learn"
        argv = json.loads(log.read_text().splitlines()[-1])
        assert argv[:3] == ["generate", "--weights", str(ckpt)]
        assert argv[argv.index("--temperature") + 1] == "0.5" and argv[argv.index("--top-k") + 1] == "5"
        assert argv[argv.index("--max-new-tokens") + 1] == "6"

    drive(scenario)


@pytest.mark.skipif(not os.environ.get("TUTOR_UI_REAL_RUNS"),
                    reason="slow (imports torch, builds and trains a model): set TUTOR_UI_REAL_RUNS=1")
def test_real_runs_pretrain_stop_then_generate(real_workspace):
    """The real `tutor run pretrain --config tiny`: the first progress event arrives and stopping saves a
    checkpoint; then the real `tutor run generate` streams tokens from that checkpoint."""
    workspace = real_workspace

    async def scenario():
        app = make_app(workspace, start_grader=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("3", "s")
            screen = app.screen
            await wait_until(pilot, lambda: any(e.get("event") == "progress" for e in screen.events)
                             or not screen.running, timeout=60, what="the first training step")
            await pilot.press("x")
            await wait_until(pilot, lambda: screen.run is not None and not screen.running, timeout=60)
            assert any(e.get("event") == "checkpoint" for e in screen.events), screen.events[-5:]
            await pilot.press("4")
            await pilot.pause()
            playground = app.screen
            assert playground.query_one("#weights").value.endswith(".pt")
            playground.query_one("#max-tokens").value = "5"
            await pilot.press("enter", "enter")  # the first Enter goes into the prompt, the second generates
            await wait_until(pilot, lambda: playground.run is not None and not playground.running, timeout=60)
            assert playground.generated, text_of(playground.query_one("#gen-status"))

    drive(scenario)


def test_gpt2_weights_are_available_once_their_verified_file_is_cached(tmp_path, monkeypatch):
    from tutor.data import datasets
    from tutor.runs import configs

    monkeypatch.setenv("TUTOR_CACHE", str(tmp_path))
    assert configs.gpt2_weights_available() == ()
    small = datasets.remote_file("gpt2-small")
    path = datasets.cached_path(small)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not really GPT-2")  # the marker vouches for it; nothing is hashed here
    assert configs.gpt2_weights_available() == (), "a file without a .verified marker is not offered"
    datasets._write_marker(path, "0" * 64)
    assert configs.gpt2_weights_available() == (), "a marker with another hash than the pinned one"
    datasets._write_marker(path, small.sha256)
    assert configs.gpt2_weights_available() == ("gpt2-small",)
    os.utime(path, ns=(1, 1))  # changed since it was verified
    assert configs.gpt2_weights_available() == ()


def test_gpt2_weights_available_imports_no_torch(tmp_path):
    import subprocess

    code = ("import sys; from tutor.runs import configs; configs.gpt2_weights_available(); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    env = {**os.environ, "TUTOR_CACHE": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr

"""The Playground's three modes (continue text, classify a message, chat) and its focus rules, driven against the
fake `tutor run` (tests/ui/fake_run.py): no torch, no model."""

from __future__ import annotations

import json
import os
import time

from textual.widgets import Input, Select

from tutor.ui.app import make_app
from tutor.ui.screens import playground
from tutor.ui.screens.playground import PlaygroundScreen, speed_line

from .conftest import drive, text_of, wait_until


def _run_folder(workspace, name: str, files: dict[str, str | bytes], age_s: float = 0.0):
    folder = workspace.runs_dir / name
    folder.mkdir(parents=True)
    for file, content in files.items():
        path = folder / file
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content, encoding="utf-8")
        if age_s:
            t = time.time() - age_s
            os.utime(path, (t, t))
    return folder


async def _open_playground(pilot, app) -> PlaygroundScreen:
    await pilot.press("4")
    await wait_until(pilot, lambda: isinstance(app.screen, PlaygroundScreen), what="the Playground")
    await pilot.pause()
    return app.screen


def test_mode_keys_work_on_arrival_and_the_prompt_takes_them_only_once_entered(workspace, fake_launcher):
    """The bug "Playground prompt focus eats 1-4 keys": arriving must not put the keys into the prompt."""
    async def scenario():
        app = make_app(workspace, launcher=fake_launcher, start_grader=False)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await _open_playground(pilot, app)
            prompt = screen.query_one("#prompt", Input)
            assert screen.focused is None, f"nothing takes the keys on arrival, not {screen.focused}"
            await pilot.press("1")
            await pilot.pause()
            assert app.current_mode == "learn" and prompt.value == "Every effort moves you"
            await _open_playground(pilot, app)
            await pilot.press("enter")  # Enter goes into the prompt…
            assert screen.focused is prompt
            await pilot.press("end", "2")  # …where digits are text
            await pilot.pause()
            assert app.current_mode == "playground" and prompt.value == "Every effort moves you2"
            await pilot.press("escape")  # Esc comes out again: the keys switch modes
            assert screen.focused is None
            await pilot.press("1")
            await pilot.pause()
            assert app.current_mode == "learn"
            app.action_goto("playground")
            await pilot.pause()
            prompt.focus()  # left with the field focused (a click on the tabs does that): back, it is not
            app.action_goto("learn")
            await pilot.pause()
            app.action_goto("playground")
            await pilot.pause()
            assert not isinstance(screen.focused, Input)
            await pilot.press("1")
            await pilot.pause()
            assert app.current_mode == "learn"

    drive(scenario)


def test_classify_mode_labels_messages_and_keeps_a_history(workspace, fake_launcher, monkeypatch, tmp_path):
    log = tmp_path / "argv.jsonl"
    monkeypatch.setenv("FAKE_RUN_LOG", str(log))
    _run_folder(workspace, "classify-tiny-old", {"classifier.pt": b"x", "checkpoint.pt": b"x"}, age_s=100)
    newest = _run_folder(workspace, "classify-tiny-new", {"classifier.pt": b"x", "checkpoint.pt": b"x",
                                                          "metrics.json": json.dumps({"run": "classify",
                                                                                      "test_accuracy": 0.9})})

    async def scenario():
        app = make_app(workspace, launcher=fake_launcher, start_grader=False)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await _open_playground(pilot, app)
            assert screen.query_one("#weights", Select).is_blank(), "a classifier does not continue text"
            await pilot.press("m")
            assert screen.mode == "classify"
            select = screen.query_one("#classifier", Select)
            assert select.value == str(newest), "the newest classifier is preselected"
            assert "test accuracy 90%" in dict((v, label) for label, v in select._options)[str(newest)]
            await pilot.press("enter")
            assert screen.focused is screen.query_one("#message")
            for message in ("You WON a free cruise! Reply YES", "Lunch at noon?"):
                screen.query_one("#message", Input).value = message
                n = len(screen.history)  # before Enter: the fake run can answer before the next line runs
                await pilot.press("enter")
                await wait_until(pilot, lambda: len(screen.history) == n + 1 and not screen.running,
                                 what="the label")
            history = text_of(screen.query_one("#history")).splitlines()
            assert history[0].split() == ["not", "spam", "4.0%", "spam", "Lunch", "at", "noon?"], history
            assert history[1].split()[:3] == ["SPAM", "97.0%", "spam"] and history[1].endswith("Reply YES")
            assert screen.query_one("#message", Input).value == "", "the field is ready for the next message"
            assert "Done." in text_of(screen.query_one("#classify-status"))
            monkeypatch.setenv("FAKE_RUN_FAIL", "1")  # a run that fails says why, in the mode's status line
            screen.query_one("#message", Input).value = "hello"
            await pilot.press("enter")
            await wait_until(pilot, lambda: not screen.running and not screen.query_one("#classify-go").disabled
                             and "broken" in text_of(screen.query_one("#classify-status")), what="the failure")
            status = screen.query_one("#classify-status")
            assert "Could not classify: the classifier is broken (pretend)" in text_of(status)
            assert status.has_class("-error") and len(screen.history) == 2
        argv = [json.loads(line) for line in log.read_text().splitlines()]
        assert argv[0][:5] == ["classify", "--model", str(newest), "--text", "You WON a free cruise! Reply YES"]
        assert "--events" in argv[0]

    drive(scenario)


def test_chat_mode_shows_a_transcript_of_independent_turns(workspace, fake_launcher, monkeypatch, tmp_path):
    log = tmp_path / "argv.jsonl"
    monkeypatch.setenv("FAKE_RUN_LOG", str(log))
    run = _run_folder(workspace, "instruct-scratch-1", {"checkpoint.pt": b"x", "metrics.json": json.dumps(
        {"run": "instruct", "val_loss": 2.5})})
    _run_folder(workspace, "pretrain-tiny-1", {"checkpoint.pt": b"x"})

    async def scenario():
        app = make_app(workspace, launcher=fake_launcher, start_grader=False)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await _open_playground(pilot, app)
            await pilot.press("m", "m")
            assert screen.mode == "chat"
            models = [v for _, v in screen.query_one("#chat-model", Select)._options if v is not Select.NULL]
            assert models == [str(run)], "only instruct runs are offered"
            assert "no memory" in text_of(screen.query_one("#chat-status"))
            await pilot.press("enter")
            screen.query_one("#instruction", Input).value = "Name a colour."
            screen.query_one("#chat-input", Input).value = "the sky"
            await pilot.press("enter")
            await wait_until(pilot, lambda: screen.turns and screen.turns[-1].state == "done" and not screen.running,
                             what="the answer")
            transcript = text_of(screen.query_one("#transcript"))
            assert transcript.splitlines() == ["You  Name a colour.", "     input: the sky",
                                               "GPT  The answer is blue."], transcript
            assert "5 tokens in 0.1 s · 50 tok/s" in text_of(screen.query_one("#chat-status"))
            assert screen.focused is screen.query_one("#instruction") and not screen.query_one("#chat-input").value
            await pilot.press("A", "enter")
            await wait_until(pilot, lambda: len(screen.turns) == 2 and screen.turns[-1].state == "done"
                             and not screen.running, what="the second answer")
            assert text_of(screen.query_one("#transcript")).count("GPT  The answer is blue.") == 2
            assert "You  A\n" in text_of(screen.query_one("#transcript"))
        argv = [json.loads(line) for line in log.read_text().splitlines()]
        assert argv[0][:7] == ["instruct", "--model", str(run), "--instruction", "Name a colour.", "--input",
                               "the sky"]
        assert "--input" not in argv[1], "an empty input is not passed"

    drive(scenario)


def test_stopping_a_chat_answer_marks_the_turn(workspace, fake_launcher, monkeypatch):
    monkeypatch.setenv("FAKE_RUN_STEP_S", "0.3")
    _run_folder(workspace, "instruct-scratch-1", {"checkpoint.pt": b"x"})

    async def scenario():
        app = make_app(workspace, launcher=fake_launcher, start_grader=False)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await _open_playground(pilot, app)
            await pilot.press("m", "m", "enter", "C", "enter")
            await wait_until(pilot, lambda: screen.turns[-1].state == "answering", what="the answer to start")
            await pilot.press("escape")
            await wait_until(pilot, lambda: not screen.running and screen.turns[-1].state == "stopped",
                             what="the stop")
            assert text_of(screen.query_one("#chat-status")) == "Stopped."
            assert "(stopped)" in text_of(screen.query_one("#transcript"))

    drive(scenario)


def test_empty_states_say_which_run_to_train(workspace, fake_launcher):
    async def scenario():
        app = make_app(workspace, launcher=fake_launcher, start_grader=False)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await _open_playground(pilot, app)
            await pilot.press("m")
            assert "train one in Train (3): run classify" in text_of(screen.query_one("#history"))
            await pilot.press("enter", "x", "enter")
            await pilot.pause()
            assert screen.run is None and any("run classify" in str(n.message) for n in app._notifications)
            await pilot.press("escape")
            await pilot.click("#mode-chat")  # a click on a mode works as m does
            await pilot.pause()
            assert screen.mode == "chat" and screen.query_one("#mode-chat").value
            assert "train one in Train (3): run instruct" in text_of(screen.query_one("#transcript"))
            await pilot.press("enter", "x", "enter")
            await pilot.pause()
            assert screen.run is None and any("run instruct" in str(n.message) for n in app._notifications)

    drive(scenario)


def test_runs_are_sorted_into_the_modes_from_their_files(workspace):
    pre = _run_folder(workspace, "pretrain-tiny-1", {"checkpoint.pt": b"x"})
    clf = _run_folder(workspace, "mine", {"classifier.pt": b"x", "checkpoint.pt": b"x",
                                          "metrics.json": json.dumps({"run": "classify"})})
    ins = _run_folder(workspace, "instruct-gpt2-small-1", {"checkpoint.pt": b"x"})
    runs = workspace.runs_dir
    assert set(playground.find_checkpoints(runs)) == {pre / "checkpoint.pt", ins / "checkpoint.pt"}
    assert playground.find_classifiers(runs) == [clf]
    assert playground.find_instruct_runs(runs) == [ins]
    assert speed_line({"tokens": 42, "tokens_per_s": 32.3}) == "42 tokens in 1.3 s · 32 tok/s"
    assert speed_line({"tokens": 1, "tokens_per_s": 2.0, "cached": True}) == "1 token in 0.5 s · 2.0 tok/s · KV cache"
    assert speed_line({"tokens": 3, "tokens_per_s": None}) == "3 tokens"

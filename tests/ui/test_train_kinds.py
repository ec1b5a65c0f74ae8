"""The Train screen's classify, instruct and judge runs, with the fake run script (tests/ui/fake_run.py) in place
of training: each kind's options, the command line they make, and what its events put on screen."""

from __future__ import annotations

import io
import json
import os

from rich.console import Console
from textual.widgets import Select

from tutor.ui.app import make_app
from tutor.ui.run_process import RunLauncher
from tutor.ui.screens.train import TrainScreen
from tutor.ui.widgets.loss_plot import AccuracyPlot
from tutor.ui.widgets.score_histogram import ScoreHistogram

from .conftest import drive, text_of, wait_until


def _checkpoint(workspace, folder: str, name: str = "checkpoint.pt"):
    path = workspace.runs_dir / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def rendered(widget) -> str:
    """The text a Static shows, Rich renderables (the tables) included."""
    out = io.StringIO()
    Console(file=out, width=160, color_system=None).print(widget.content)
    return out.getvalue()


def _argv(log, n=-1) -> list[str]:
    return json.loads(log.read_text().splitlines()[n])


async def _train_screen(pilot, kind: str) -> TrainScreen:
    await pilot.press("3")
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, TrainScreen)
    screen.query_one(f"#kind-{kind}").value = True
    await pilot.pause()
    assert screen.kind == kind
    for other in ("classify", "instruct", "judge"):
        assert screen.query_one(f"#{other}-options").display is (other == kind), other
    assert screen.query_one("#options").display is (kind == "pretrain")
    return screen


async def _finish(pilot, screen, what: str) -> None:
    await pilot.pause()
    await wait_until(pilot, lambda: screen.run is not None and not screen.running
                     and not screen.query_one("#start").disabled, what=what)
    await pilot.pause(0.3)  # the last redraws (progress, plots)


def test_run_command_lines_of_the_fine_tuning_runs(tmp_path):
    launcher = RunLauncher()
    argv = launcher.classify(tmp_path, data="sms-spam", init="scratch", config="small", trainable="all",
                             token="first", epochs=3, device="cpu")
    assert argv[4:] == ["classify", "--data", "sms-spam", "--init", "scratch", "--events", "--config", "small",
                        "--trainable", "all", "--token", "first", "--epochs", "3", "--device", "cpu",
                        "--workspace", str(tmp_path)]
    argv = launcher.instruct(tmp_path, data="book", init="/runs/a/checkpoint.pt", config="tiny", mask_prompt=True)
    assert argv[4:] == ["instruct", "--data", "book", "--init", "/runs/a/checkpoint.pt", "--events",
                        "--mask-prompt", "--workspace", str(tmp_path)]  # --config sizes scratch models only
    argv = launcher.judge(tmp_path, responses="r.json", api="openai", model=None, host="http://h:8000")
    assert argv[4:] == ["judge", "r.json", "--events", "--api", "openai", "--host", "http://h:8000",
                        "--workspace", str(tmp_path)]


def test_classify_shows_live_accuracy_and_a_missing_download_says_how_to_get_it(workspace, fake_launcher,
                                                                                monkeypatch, tmp_path):
    log = tmp_path / "argv.jsonl"
    monkeypatch.setenv("FAKE_RUN_LOG", str(log))
    monkeypatch.setenv("TUTOR_CACHE", str(tmp_path / "empty-cache"))
    pretrained = _checkpoint(workspace, "pretrain-20261201-100000")
    _checkpoint(workspace, "classify-tiny-20261201-110000")  # a classifier is no model to start from

    async def scenario():
        app = make_app(workspace, launcher=fake_launcher, start_grader=False)
        async with app.run_test(size=(80, 30)) as pilot:
            screen = await _train_screen(pilot, "classify")
            init = screen.query_one("#classify-init")
            values = [v for _, v in init._options]
            assert init.value == "scratch:tiny", "a scratch tiny model is the default"
            assert str(pretrained) in values and not any("classify-" in str(v) for v in values), values
            init.value = str(pretrained)
            screen.query_one("#classify-trainable").value = "last-block"
            screen.query_one("#classify-token").value = "first"
            screen.query_one("#classify-epochs").value = "1"
            await pilot.press("s")
            await _finish(pilot, screen, "the classify run")
            argv = _argv(log)
            assert argv[:5] == ["classify", "--data", "builtin", "--init", str(pretrained)]
            assert "--config" not in argv, "a checkpoint has its own size"
            assert argv[argv.index("--trainable") + 1] == "last-block" and argv[argv.index("--token") + 1] == "first"
            assert argv[argv.index("--epochs") + 1] == "1"
            stats = text_of(screen.query_one("#run-stats"))
            assert "train acc 97.5%" in stats and "val acc 91.2%" in stats and "examples/s 80" in stats, stats
            plot = screen.query_one(AccuracyPlot)
            assert plot.display and plot.val == [100 * min(0.5 + s / 45, 0.9125) for s in (5, 10, 15, 20)]
            status = text_of(screen.query_one("#run-status"))
            assert "Test accuracy 93.3%" in status and "Playground's classify mode" in status, status
            assert "classifier.pt" in status

            monkeypatch.setenv("FAKE_RUN_STEPS", "100000")  # until stopped
            monkeypatch.setenv("FAKE_RUN_STEP_S", "0.02")
            await pilot.press("s")
            await wait_until(pilot, lambda: any(e.get("event") == "eval" for e in screen.events), what="an eval")
            await pilot.press("x")
            await _finish(pilot, screen, "the stopped classify run")
            status = text_of(screen.query_one("#run-status"))
            assert status.startswith("Stopped.") and "To go on: tutor run classify --resume" in status, status
            monkeypatch.delenv("FAKE_RUN_STEPS")

            screen.query_one("#classify-data").value = "sms-spam"
            screen.query_one("#classify-init").value = "scratch:tiny"
            monkeypatch.setenv("FAKE_RUN_NOT_DOWNLOADED", "1")
            await pilot.press("s")
            await _finish(pilot, screen, "the failing classify run")
            argv = _argv(log)
            assert argv[:7] == ["classify", "--data", "sms-spam", "--init", "scratch", "--events", "--config"]
            status = screen.query_one("#run-status")
            assert "tutor download sms-spam --from FILE" in text_of(status) and status.has_class("-error")
            assert "Traceback" not in text_of(status)

    drive(scenario)


def test_instruct_shows_responses_then_j_judges_them_into_a_histogram(workspace, fake_launcher, monkeypatch,
                                                                      tmp_path):
    log = tmp_path / "argv.jsonl"
    monkeypatch.setenv("FAKE_RUN_LOG", str(log))
    pretrained = _checkpoint(workspace, "pretrain-20261201-100000")

    async def scenario():
        app = make_app(workspace, launcher=fake_launcher, start_grader=False)
        async with app.run_test(size=(80, 30)) as pilot:
            screen = await _train_screen(pilot, "instruct")
            assert screen.query_one("#instruct-init").value == str(pretrained), "the newest checkpoint first"
            assert screen.query_one("#judge-responses").value is Select.NULL, "no responses to judge yet"
            screen.query_one("#instruct-mask").value = True
            await pilot.press("s")
            await _finish(pilot, screen, "the instruct run")
            argv = _argv(log)
            assert argv[:5] == ["instruct", "--data", "builtin", "--init", str(pretrained)]
            assert "--mask-prompt" in argv and argv[argv.index("--epochs") + 1] == "2"
            shown = rendered(screen.query_one("#sample"))
            assert "Bleu [4] is a colour." in shown and "Blue 4." in shown, "markup-like text shown as is"
            assert "Bleu [1]" not in shown, "only the newest three"
            status = text_of(screen.query_one("#run-status"))
            assert "Press j to judge them" in status and "responses.json" in status, status
            assert screen.responses and screen.responses.endswith("responses.json")

            await pilot.press("j")
            await _finish(pilot, screen, "the judge run")
            argv = _argv(log)
            assert argv[:3] == ["judge", screen.responses, "--events"] and "--api" not in argv
            assert screen.kind == "judge" and screen.query_one("#scores").display
            assert not screen.query_one("#plots").display
            histogram = screen.query_one(ScoreHistogram)
            counts = dict(histogram.counts)
            assert counts == {"0-9": 1, "10-19": 0, "20-29": 1, "30-39": 0, "40-49": 0, "50-59": 1, "60-69": 1,
                              "70-79": 0, "80-89": 1, "90-100": 1}, counts
            assert histogram.missing == 1
            drawn = text_of(histogram)
            assert "average 52.7" in drawn and "1 missing" in drawn and "7/7 judged" in drawn, drawn
            assert "Task 5" in rendered(screen.query_one("#sample")), "the worst answers at the end"
            assert "Average score 52.7" in text_of(screen.query_one("#run-status"))

    drive(scenario)


def test_judge_options_and_an_unreachable_ollama_says_what_to_run(workspace, fake_launcher, monkeypatch, tmp_path):
    log = tmp_path / "argv.jsonl"
    monkeypatch.setenv("FAKE_RUN_LOG", str(log))
    monkeypatch.setenv("FAKE_JUDGE_DOWN", "1")

    async def scenario():
        app = make_app(workspace, launcher=fake_launcher, start_grader=False)
        async with app.run_test(size=(80, 30)) as pilot:
            screen = await _train_screen(pilot, "judge")
            await pilot.press("s")
            await pilot.pause()
            assert screen.run is None and not log.exists(), "nothing to judge: no run starts"
            older = workspace.runs_dir / "instruct-old" / "responses.json"
            newer = workspace.runs_dir / "instruct-new" / "responses.json"
            for path, mtime in ((older, 1_000_000), (newer, 2_000_000)):
                path.parent.mkdir(parents=True)
                path.write_text("[]")
                os.utime(path, (mtime, mtime))
            screen.on_screen_resume()
            await pilot.pause()
            assert screen.query_one("#judge-responses").value == str(newer), "the newest responses first"
            screen.query_one("#judge-model").value = "mistral"
            screen.query_one("#judge-host").value = "http://127.0.0.1:9"
            await pilot.press("s")
            await _finish(pilot, screen, "the judge run")
            argv = _argv(log)
            assert argv == ["judge", str(newer), "--events", "--model", "mistral", "--host", "http://127.0.0.1:9",
                            "--workspace", str(workspace.root)]
            status = screen.query_one("#run-status")
            assert "Cannot reach an Ollama server" in text_of(status) and "`ollama serve`" in text_of(status)
            assert status.has_class("-error")

    drive(scenario)

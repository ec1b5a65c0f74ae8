"""SVG snapshots of the screens whose look matters, at fixed sizes, with the frozen fixture course.

Update after an intended change with `python -m pytest tests/ui/test_snapshots.py --snapshot-update`, then look
at the SVGs in tests/ui/__snapshots__/ before committing them.
"""

from __future__ import annotations

import pytest
from textual.widgets import Input

from tutor.grading.results import CheckResult, ExerciseResult
from tutor.progress import ProgressStore
from tutor.ui.app import make_app
from tutor.ui.messages import RunEvent
from tutor.ui.widgets.lesson_viewer import LessonViewer
from tutor.ui.widgets.loss_plot import LossPlot
from tutor.workspace import init_workspace

from .conftest import text_of, wait_until


@pytest.fixture
def snap_workspace(course, tmp_path, monkeypatch):
    # The workspace path is on screen as `~/gpt-workspace`: the same on every machine and for every run.
    monkeypatch.setenv("HOME", str(tmp_path))
    ws = init_workspace(tmp_path / "gpt-workspace")
    store = ProgressStore(ws.state_dir)
    store.record_grade("tokenizer", "passed")
    store.use_hint("tokenizer", 3)
    store.record_grade("embeddings", "failed")
    store.record("visited", "embeddings")
    return ws


async def steady(pilot) -> None:
    """Freeze what changes by itself: the grader's warm-up label, blinking cursors."""
    app = pilot.app
    app.grader_state = "ready"
    for field in app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause()


def app_for(ws, **kw):
    return make_app(ws, start_grader=False, watch_fn=_no_watch, **kw)


def _no_watch(file, force_polling=False, stop_event=None):
    stop_event.wait()
    return
    yield


def test_learn_80x24(snap_workspace, snap_compare):
    assert snap_compare(app_for(snap_workspace), terminal_size=(80, 24), run_before=steady)


def test_learn_light_theme(snap_workspace, snap_compare):
    async def light(pilot):
        pilot.app.theme = "textual-light"
        await steady(pilot)

    assert snap_compare(app_for(snap_workspace), terminal_size=(80, 24), run_before=light)


async def _open_lesson(pilot, exercise_id="tokenizer"):
    app = pilot.app
    app.open_lesson(exercise_id)
    await wait_until(pilot, lambda: app.screen.query(LessonViewer), what="the lesson screen")
    viewer = app.screen.query_one(LessonViewer)
    await wait_until(pilot, lambda: "The exercise" in viewer.document.source, what="the lesson text")
    await wait_until(pilot, lambda: viewer.table_of_contents.table_of_contents, what="the table of contents")
    await pilot.pause()


def test_lesson_with_a_hint_80x24(snap_workspace, snap_compare):
    async def lesson(pilot):
        await _open_lesson(pilot, "embeddings")
        await pilot.press("h")
        await steady(pilot)

    assert snap_compare(app_for(snap_workspace), terminal_size=(80, 24), run_before=lesson)


def test_lesson_with_contents_large(snap_workspace, snap_compare):
    async def lesson(pilot):
        await _open_lesson(pilot, "tokenizer")
        await steady(pilot)

    assert snap_compare(app_for(snap_workspace), terminal_size=(140, 40), run_before=lesson)


DIAGNOSED = ExerciseResult(
    id="tokenizer", status="failed", duration_s=0.42,
    checks=[
        CheckResult("build_vocab gives sorted tokens, then <|endoftext|> and <|unk|>", True,
                    lesson="lessons/01-tokenizer.md#building-the-vocabulary"),
        CheckResult("encode maps unknown words to <|unk|>", False,
                    message="Expected 29 items, got 15.\n  expected: [11, 17, 13, 33, 2]\n  got:      [11, 17, 13, 2]",
                    diagnosis="no-unk", lesson="lessons/01-tokenizer.md#special-tokens",
                    mistake="Unknown words are dropped instead of becoming <|unk|>."),
        CheckResult("decode turns ids back into text with punctuation attached", True,
                    lesson="lessons/01-tokenizer.md#encoding"),
    ])


def test_grade_with_a_diagnosed_mistake(snap_workspace, snap_compare):
    async def grade(pilot):
        app = pilot.app
        app.exercise_id = "tokenizer"
        await pilot.press("2")
        app.result = DIAGNOSED
        await steady(pilot)

    assert snap_compare(app_for(snap_workspace), terminal_size=(80, 24), run_before=grade)


def test_train_with_a_loss_curve(snap_workspace, snap_compare):
    async def train(pilot):
        app = pilot.app
        await pilot.press("3")
        await pilot.pause()
        screen = app.screen
        screen.post_message(RunEvent({"event": "start", "run": "pretrain", "out": "x", "device": "cpu",
                                      "filled_in": ["training"], "total_steps": 200}))
        for step in range(10, 110, 10):
            screen.post_message(RunEvent({"event": "eval", "step": step, "train_loss": 9.0 / step ** 0.4,
                                          "val_loss": 9.4 / step ** 0.38, "tokens_seen": step * 512}))
        screen.post_message(RunEvent({"event": "progress", "epoch": 1, "step": 100, "total_steps": 200,
                                      "tokens_seen": 51200, "tokens_per_s": 12800.0, "eta_s": 4.0}))
        screen.post_message(RunEvent({"event": "sample", "step": 100,
                                      "text": "Every effort moves you toward the lighthouse, and the keeper"}))
        # The plot and the numbers redraw on short timers: wait until both have drawn what was sent.
        plot = screen.query_one(LossPlot)
        await wait_until(pilot, lambda: len(plot.train) == 10 and not plot._draw_pending
                         and screen._progress is None and "ETA" in text_of(screen.query_one("#run-stats")),
                         what="the plot and the numbers")
        await steady(pilot)

    assert snap_compare(app_for(snap_workspace), terminal_size=(80, 24), run_before=train)


def test_playground_chat_80x24(snap_workspace, snap_compare):
    from tutor.ui.screens.playground import ChatTurn

    (snap_workspace.runs_dir / "instruct-scratch-1").mkdir(parents=True)
    (snap_workspace.runs_dir / "instruct-scratch-1" / "checkpoint.pt").write_bytes(b"x")

    async def chat(pilot):
        app = pilot.app
        await pilot.press("4")
        await pilot.pause()
        await pilot.press("m", "m")
        screen = app.screen
        screen.turns.append(ChatTurn("Name three primary colours.", "", "Red, yellow and blue.", "done"))
        screen.turns.append(ChatTurn("Rewrite the sentence in the passive voice.", "The cat chased the mouse."))
        screen.run_mode = "chat"
        for ev in ({"event": "start", "run": "chat"}, {"event": "token", "text": " The mouse was"},
                   {"event": "token", "text": " chased by the cat."},
                   {"event": "done", "tokens": 8, "tokens_per_s": 40.0, "response": "The mouse was chased by the cat."}):
            screen.post_message(RunEvent(ev))
        await wait_until(pilot, lambda: screen.turns[-1].state == "done", what="the answer")
        await steady(pilot)

    assert snap_compare(app_for(snap_workspace), terminal_size=(80, 24), run_before=chat)


def test_train_judge_scores(snap_workspace, snap_compare):
    responses = snap_workspace.runs_dir / "instruct-scratch-20261201-120000" / "responses.json"
    responses.parent.mkdir(parents=True)
    responses.write_text("[]")

    async def judge(pilot):
        app = pilot.app
        await pilot.press("3")
        await pilot.pause()
        screen = app.screen
        screen.query_one("#kind-judge").value = True
        await pilot.pause()
        screen.run_kind = "judge"  # as a started judge run sets it
        screen._show_panels("judge")
        scores = [88, 71, None, 64, 45, 93, 52, 30, 77, 12, 58, 66]
        screen.post_message(RunEvent({"event": "start", "run": "judge", "out": "x", "device": "h",
                                      "filled_in": [], "total_steps": 12, "model": "llama3",
                                      "host": "http://localhost:11434", "resumed": 0, "resumed_scores": []}))
        for i, s in enumerate(scores):
            screen.post_message(RunEvent({"event": "judged", "index": i, "score": s,
                                          "status": "scored" if s is not None else "unparsable"}))
        worst = sorted((s, i) for i, s in enumerate(scores) if s is not None)[:5]
        screen.post_message(RunEvent({"event": "done", "out": "x", "checkpoint": None, "metrics": "x",
                                      "average": 59.6, "scored": 11, "entries": 12, "missing": [{"index": 2}],
                                      "worst": [{"index": i, "score": s, "instruction": f"Rewrite sentence {i}.",
                                                 "output": "The reference answer.", "response": "What it said."}
                                                for s, i in worst]}))
        await wait_until(pilot, lambda: len(screen.events) == 14, what="the events")
        await steady(pilot)

    assert snap_compare(app_for(snap_workspace), terminal_size=(80, 24), run_before=judge)

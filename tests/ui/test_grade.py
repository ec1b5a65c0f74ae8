"""Grade mode with the real grader: a stub, a diagnosed mistake with its lesson link, the reference passing after
a save (file events), and the announced polling fallback when file events do not arrive."""

from __future__ import annotations

import threading
from pathlib import Path

from tests.graders.helpers import mistake_sources, reference_source
from tutor.grading.results import CheckResult, ExerciseResult
from tutor.progress import ProgressStore
from tutor.ui import app as app_module
from tutor.ui import file_watch
from tutor.ui.app import make_app
from tutor.ui.screens.grade import GradeScreen
from tutor.ui.screens.lesson import LessonScreen
from tutor.ui.widgets.check_view import CheckView

from .conftest import drive, keep_saving, text_of, wait_until

EX = "tokenizer"


def test_grade_stub_then_mistake_then_reference(real_workspace, grader):
    file = real_workspace.exercise_file(EX)
    mistakes = dict(mistake_sources(EX))

    async def scenario():
        app = make_app(real_workspace, grader=grader)
        async with app.run_test(size=(100, 40)) as pilot:
            app.open_lesson(EX)
            await wait_until(pilot, lambda: isinstance(app.screen, LessonScreen))
            await pilot.press("g")
            await wait_until(pilot, lambda: app.result is not None, what="the stub's grade")
            assert isinstance(app.screen, GradeScreen)
            assert app.result.status == "not_started", app.result.summary()
            summary = text_of(app.screen.query_one("#summary"))
            assert "not started" in summary and app.result.message.splitlines()[0] in summary, summary

            # A realistic mistake: the failing check says what went wrong and links to the lesson section.
            app.watch_enabled = False  # this part grades by key; the watcher has its own test below
            file.write_text(mistakes["no-unk"])
            await pilot.press("g")
            await wait_until(pilot, lambda: app.result is not None and app.result.status == "failed",
                             what="the mistake's grade")
            await pilot.pause()
            diagnosed = [v for v in app.screen.query(CheckView) if v.has_class("-diagnosed")]
            assert len(diagnosed) == 1, [text_of(v) for v in app.screen.query(CheckView)]
            shown = text_of(diagnosed[0])
            assert "This looks like a known mistake" in shown and "<|unk|>" in shown, shown
            assert "lessons/01-tokenizer.md#special-tokens" in shown, shown
            passing = [v for v in app.screen.query(CheckView) if not v.has_class("-failed")]
            assert passing, "the checks that pass are listed too"
            await pilot.press("l")  # open the lesson at the diagnosed section
            await wait_until(pilot, lambda: isinstance(app.screen, LessonScreen), what="the lesson")
            assert app.screen.anchor == "special-tokens"

            # Copy the reference in, let the watcher see the save: it re-grades by itself.
            app.watch_enabled = True
            await pilot.press("2")
            await wait_until(pilot, lambda: "file events" in app.watch_note, what="the watcher")
            # The watcher thread may not listen yet: save again each second until a grade comes back.
            await keep_saving(pilot, file, reference_source(EX),
                              lambda: app.result is not None and app.result.status == "passed",
                              what="an automatic re-grade after the save")
            # The result lands before the screen has redrawn its checks: wait for the redraw, not a fixed time.
            await wait_until(pilot, lambda: "passed" in text_of(app.screen.query_one("#summary"))
                             and not app.screen.query(CheckView).filter(".-failed"), what="the passing checks")
            print(f"\nre-grade of {EX} with a warm grader: {app.last_grade_wall_s:.2f} s wall, "
                  f"{app.result.duration_s:.2f} s in the grader")
        p = ProgressStore(real_workspace.state_dir).load().get(EX)
        assert p.passed_ever and p.attempts >= 2  # the mistake and the reference; the stub is not an attempt

    drive(scenario)


class CannedGrader:
    """Stands in for GradingServer where the test is about the UI, not the checks: grades instantly."""

    def __init__(self):
        self.graded: list[str] = []

    timeout = 60.0

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass

    def grade_file(self, exercise_id, file, timeout=None):
        self.graded.append(Path(file).read_text())
        return ExerciseResult(exercise_id, "passed", [CheckResult("it works", True)], duration_s=0.01)


def test_falls_back_to_polling_when_file_events_do_not_arrive(workspace, course, monkeypatch):
    """A watcher that never reports (as on some network or container file systems): the app notices the file
    changed anyway, says on screen that it now polls, grades, and keeps grading later saves by polling."""
    monkeypatch.setattr(file_watch, "MISSED_EVENT_S", 0.5)
    calls = []

    def silent_watch(file, force_polling=False, stop_event=None):
        calls.append(force_polling)
        if force_polling:
            from tutor.grading.watch import watch_file

            yield from watch_file(file, force_polling=True, stop_event=stop_event)
            return
        stop_event.wait()

    grader = CannedGrader()
    ex = course.exercises[0].id
    file = workspace.exercise_file(ex)

    async def scenario():
        app = make_app(workspace, grader=grader, watch_fn=silent_watch)
        async with app.run_test(size=(100, 30)) as pilot:
            app.exercise_id = ex
            await pilot.press("2")
            await wait_until(pilot, lambda: "file events" in app.watch_note)
            file.write_text("# first save\n")
            await wait_until(pilot, lambda: "did not arrive" in app.watch_note, what="the polling note")
            assert "did not arrive" in text_of(app.screen.query_one("#watch-note"))
            assert app.screen.query_one("#watch-note").has_class("-warning")
            await wait_until(pilot, lambda: grader.graded == ["# first save\n"], what="the grade")
            assert calls == [False, True], "the watcher was restarted in polling mode"
            file.write_text("# second save\n")
            await wait_until(pilot, lambda: grader.graded[-1:] == ["# second save\n"], what="a polled re-grade")

    drive(scenario)


class HangingGrader(CannedGrader):
    """A grading process that stops answering until it is closed (as a wedged server would)."""

    timeout = 0.2

    def __init__(self):
        super().__init__()
        self.closed = threading.Event()

    def grade_file(self, exercise_id, file, timeout=None):
        self.closed.wait(30)
        return ExerciseResult(exercise_id, "crashed", message="The grading process stopped unexpectedly.")

    def close(self) -> None:
        self.closed.set()


def test_a_hanging_grader_is_closed_and_the_learner_told(workspace, course, monkeypatch):
    monkeypatch.setattr(app_module, "GRADER_GRACE_S", 0.3)
    grader = HangingGrader()

    async def scenario():
        app = make_app(workspace, grader=grader, watch_fn=_no_watch)
        async with app.run_test(size=(100, 30)) as pilot:
            app.grade(course.exercises[0].id)
            await wait_until(pilot, lambda: app.result is not None, what="the grade to come back")
            assert grader.closed.is_set(), "the overdue grading process was not closed"
            assert app.result.status == "crashed" and app.grading is None
            assert "stopped unexpectedly" in text_of(app.screen.query_one("#summary"))

    drive(scenario)


def _no_watch(file, force_polling=False, stop_event=None):
    stop_event.wait()
    return
    yield

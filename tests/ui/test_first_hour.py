"""What a newcomer met in the first hour, in the TUI: each test would have caught one of the rough edges."""

from __future__ import annotations

from textual.widgets import RadioButton, Select

from tutor.grading.results import CheckResult, ExerciseResult
from tutor.progress import ProgressStore
from tutor.runs import configs
from tutor.ui.app import make_app
from tutor.ui.screens.grade import GradeScreen
from tutor.ui.screens.lesson import LessonScreen
from tutor.ui.screens.playground import PlaygroundScreen
from tutor.ui.screens.train import TrainScreen
from tutor.ui.widgets.curriculum_list import CurriculumList

from .conftest import drive, text_of, wait_until


class PassingGrader:
    """Grades instantly: every grade passes (the test is about what the UI shows and records)."""

    timeout = 60.0

    def __init__(self):
        self.calls = 0

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass

    def grade_file(self, exercise_id, file, timeout=None):
        self.calls += 1
        return ExerciseResult(exercise_id, "passed", [CheckResult("it works", True)], duration_s=0.01)


def _no_watch(file, force_polling=False, stop_event=None):
    stop_event.wait()
    return
    yield


def test_playground_offers_gpt2_only_when_it_can_load_it(workspace, monkeypatch):
    async def options(available: tuple) -> list[str]:
        monkeypatch.setattr(configs, "gpt2_weights_available", lambda: available)
        app = make_app(workspace, start_grader=False, watch_fn=_no_watch)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("4")
            await wait_until(pilot, lambda: isinstance(app.screen, PlaygroundScreen), what="the Playground")
            select = app.screen.query_one("#weights", Select)
            values = [value for _, value in select._options if value is not Select.NULL]
            if not available:  # nothing to prompt: Generate says so instead of starting a run
                assert select.is_blank()
                app.screen.action_generate()
                await pilot.pause()
                assert app.screen.run is None
                assert any("no model to prompt" in str(n.message) for n in app._notifications)
            return values

    async def scenario():
        assert await options(()) == []
        assert await options(("gpt2-small", "gpt2-xl")) == ["gpt2-small", "gpt2-xl"]

    drive(scenario)


def test_train_offers_what_the_runs_accept(workspace):
    async def scenario():
        app = make_app(workspace, start_grader=False, watch_fn=_no_watch)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("3")
            await wait_until(pilot, lambda: isinstance(app.screen, TrainScreen), what="the Train screen")
            screen = app.screen
            kinds = [str(b.label) for b in screen.query(RadioButton)]
            assert kinds == ["pretrain", "classify", "instruct", "judge"], "only runs that exist are offered"
            assert not any(b.disabled for b in screen.query(RadioButton))
            config = [v for _, v in screen.query_one("#config", Select)._options]
            device = [v for _, v in screen.query_one("#device", Select)._options]
            assert config == list(configs.PRESETS) and device == list(configs.DEVICES)
            from tutor.runs.classify import TOKENS, TRAINABLE

            trainable = [v for _, v in screen.query_one("#classify-trainable", Select)._options]
            assert trainable == ["", *TRAINABLE], "the run's own default, then each --trainable it accepts"
            assert [v for _, v in screen.query_one("#classify-token", Select)._options] == list(TOKENS)
            for kind in ("classify", "instruct"):
                assert [v for _, v in screen.query_one(f"#{kind}-device", Select)._options] == list(configs.DEVICES)

    drive(scenario)


def test_train_progress_percentage_fits_at_80_columns(workspace):
    from tutor.ui.messages import RunEvent

    async def scenario():
        app = make_app(workspace, start_grader=False, watch_fn=_no_watch)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("3")
            await wait_until(pilot, lambda: isinstance(app.screen, TrainScreen), what="the Train screen")
            screen = app.screen
            screen.post_message(RunEvent({"event": "start", "run": "pretrain", "device": "cpu", "total_steps": 200}))
            screen.post_message(RunEvent({"event": "progress", "step": 100, "total_steps": 200}))
            await wait_until(pilot, lambda: screen._progress is None and screen.events, what="the progress")
            await pilot.pause()
            percent = screen.query_one("#run-progress").query_one("PercentageStatus")
            assert "50%" in str(percent.render()), percent.render()
            assert percent.region.right <= 80 and percent.region.width >= 3, percent.region

    drive(scenario)


def test_learn_header_counts_what_the_rows_show_as_passed(workspace, course):
    first, second = course.exercises[0], course.exercises[1]
    store = ProgressStore(workspace.state_dir)
    store.record_grade(first.id, "passed")
    store.record_grade(second.id, "passed")
    store.record_grade(second.id, "failed")  # passed once, broken since

    async def scenario():
        app = make_app(workspace, start_grader=False, watch_fn=_no_watch)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            listing = app.screen.query_one(CurriculumList)
            rows = {listing.get_option_at_index(i).id: str(listing.get_option_at_index(i).prompt)
                    for i in range(listing.option_count)}
            ticked = sum(rows[ex.id].lstrip().startswith("✔") for ex in course.exercises)
            label = text_of(app.screen.query_one("#progress-label"))
            assert label.startswith(f"{ticked} of {len(course.exercises)} pass"), (label, rows)
            assert rows[second.id].lstrip().startswith("✘")
            assert label.endswith(f"({100 // len(course.exercises)}%)"), "the percentage is part of the label"
            # Continue goes to what needs work: the regressed exercise, the one last graded.
            assert f"{second.number}. {second.id}" in str(app.screen.query_one("#continue").label)

    drive(scenario)


def test_after_a_pass_n_opens_the_next_lesson(workspace, course):
    first, second = course.exercises[0], course.exercises[1]

    async def scenario():
        app = make_app(workspace, grader=PassingGrader(), watch_fn=_no_watch)
        async with app.run_test(size=(100, 30)) as pilot:
            app.grade(first.id)
            await wait_until(pilot, lambda: app.result is not None and isinstance(app.screen, GradeScreen),
                             what="the grade")
            summary = text_of(app.screen.query_one("#summary"))
            assert f"Next: {second.number}. {second.title} (press n)" in summary, summary
            await pilot.press("n")
            await wait_until(pilot, lambda: isinstance(app.screen, LessonScreen), what="the next lesson")
            assert app.screen.exercise_id == second.id

    drive(scenario)


def test_grading_unchanged_content_again_is_one_attempt(workspace, course):
    ex = course.exercises[0]
    grader = PassingGrader()

    async def scenario():
        app = make_app(workspace, grader=grader, watch_fn=_no_watch)
        async with app.run_test(size=(100, 30)) as pilot:
            for n in (1, 2):  # as when the watcher and `tutor grade` both grade one save
                app.grade(ex.id)
                await wait_until(pilot, lambda: grader.calls == n and app.grading is None, what=f"grade {n}")
            assert ProgressStore(workspace.state_dir).load().get(ex.id).attempts == 1
            workspace.exercise_file(ex.id).write_text("# changed\n")
            app.grade(ex.id)
            await wait_until(pilot, lambda: grader.calls == 3 and app.grading is None, what="grade 3")
            assert ProgressStore(workspace.state_dir).load().get(ex.id).attempts == 2

    drive(scenario)


def test_messages_with_brackets_are_shown_verbatim(workspace):
    from tutor.ui.messages import RunEvent

    message = "shapes [2, 3] and [bold]x[/bold] differ"

    async def scenario():
        app = make_app(workspace, start_grader=False, watch_fn=_no_watch)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("3")
            await wait_until(pilot, lambda: isinstance(app.screen, TrainScreen), what="the Train screen")
            app.screen.post_message(RunEvent({"event": "error", "message": message}))
            await wait_until(pilot, lambda: app.screen.events, what="the event")
            assert message in text_of(app.screen.query_one("#run-status"))

    drive(scenario)


def test_the_app_repairs_a_workspace_that_lost_its_state(workspace, course, monkeypatch):
    import shutil

    from tutor.ui.screens.learn import LearnScreen

    mine = workspace.exercise_file(course.exercises[0].id)
    mine.write_text("# my work\n")
    shutil.rmtree(workspace.state_dir)
    monkeypatch.chdir(workspace.root)

    async def scenario():
        app = make_app(None, start_grader=False, watch_fn=_no_watch)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert type(app.screen).__name__ == "WelcomeScreen"
            assert app.screen.query_one("#workspace-dir").value == "."
            await pilot.click("#create")
            await wait_until(pilot, lambda: isinstance(app.screen, LearnScreen), what="the Learn screen")
            assert app.workspace.root == workspace.root and workspace.state_dir.is_dir()
            assert mine.read_text() == "# my work\n"

    drive(scenario)

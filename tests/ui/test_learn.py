"""Learn mode: the curriculum with statuses, lessons, and the exercise verbs (hint, solution, reset, edit...)."""

from __future__ import annotations

import shlex
import sys

from tutor.progress import ProgressStore
from tutor.ui.app import make_app
from tutor.ui.screens.confirm import ConfirmScreen
from tutor.ui.screens.help import HelpScreen
from tutor.ui.screens.learn import LearnScreen
from tutor.ui.screens.lesson import LessonScreen
from tutor.ui.screens.solution import SolutionScreen
from tutor.ui.widgets.curriculum_list import CurriculumList
from tutor.ui.widgets.hint_panel import HintPanel
from tutor.ui.widgets.lesson_viewer import LessonViewer

from .conftest import drive, text_of, wait_until


def app_for(ws, **kw):
    return make_app(ws, start_grader=False, **kw)


def test_curriculum_shows_stages_statuses_and_progress(workspace, course):
    FIRST, SECOND = course.exercises[0], course.exercises[1]
    store = ProgressStore(workspace.state_dir)
    store.record_grade(FIRST.id, "passed")
    store.use_hint(FIRST.id, len(FIRST.hints))
    store.record_grade(SECOND.id, "failed")

    async def scenario():
        app = app_for(workspace)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, LearnScreen)
            listing = app.screen.query_one(CurriculumList)
            prompts = {listing.get_option_at_index(i).id: str(listing.get_option_at_index(i).prompt)
                       for i in range(listing.option_count)}
            for stage in course.by_stage():
                assert f"stage:{stage}" in prompts, f"stage {stage} missing: {list(prompts)}"
            assert prompts[FIRST.id].lstrip().startswith("✔") and f"hint 1/{len(FIRST.hints)}" in prompts[FIRST.id]
            assert prompts[SECOND.id].lstrip().startswith("✘"), prompts[SECOND.id]
            third = course.exercises[2].id
            assert prompts[third].lstrip().startswith("·"), prompts[third]
            label = text_of(app.screen.query_one("#progress-label"))
            n = len(course.exercises)
            assert label == f"1 of {n} pass ({100 // n}%)", label

    drive(scenario)


def test_enter_opens_lesson_next_previous_and_continue(workspace, course):
    FIRST, SECOND = course.exercises[0], course.exercises[1]
    async def scenario():
        app = app_for(workspace)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await pilot.press("enter")  # the first exercise is highlighted on a fresh workspace
            await wait_until(pilot, lambda: isinstance(app.screen, LessonScreen), what="the lesson screen")
            lesson = app.screen
            viewer = lesson.query_one(LessonViewer)
            await wait_until(pilot, lambda: FIRST.title in viewer.document.source, what="the lesson text")
            assert f"exercises/{FIRST.module}" in text_of(lesson.query_one("#exercise-file"))
            assert str(workspace.root) in text_of(lesson.query_one("#exercise-file"))
            await pilot.press("n")
            await wait_until(pilot, lambda: SECOND.title in viewer.document.source, what="the next lesson")
            assert app.screen is lesson and lesson.exercise_id == SECOND.id and app.exercise_id == SECOND.id
            await pilot.press("p")
            await wait_until(pilot, lambda: lesson.exercise_id == FIRST.id)
            await pilot.press("n")
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, LearnScreen)
            assert ProgressStore(workspace.state_dir).load().last_exercise == SECOND.id
            await pilot.press("c")  # continue where I left off
            await wait_until(pilot, lambda: isinstance(app.screen, LessonScreen))
            assert app.screen.exercise_id == SECOND.id

    drive(scenario)


def test_hints_are_revealed_one_at_a_time_and_recorded(workspace, course):
    FIRST = course.exercises[0]
    async def scenario():
        app = app_for(workspace)
        async with app.run_test(size=(80, 24)) as pilot:
            app.open_lesson(FIRST.id)
            await pilot.pause()
            panel = app.screen.query_one(HintPanel)
            assert not panel.has_class("-shown")
            await pilot.press("h")
            await pilot.pause()
            assert panel.has_class("-shown")
            assert f"Hint 1/{len(FIRST.hints)}: {FIRST.hints[0]}" in text_of(panel)
            assert "Hint 2/" not in text_of(panel)
            for _ in FIRST.hints:
                await pilot.press("h")
            await pilot.pause()
            assert f"Hint {len(FIRST.hints)}/{len(FIRST.hints)}" in text_of(panel)
            assert ProgressStore(workspace.state_dir).load().get(FIRST.id).hints_used == len(FIRST.hints)
            assert any("last hint" in n.message for n in app._notifications), "no 'last hint' notice"

    drive(scenario)


def test_solution_needs_a_pass_or_a_confirmation(workspace, course):
    FIRST = course.exercises[0]
    async def scenario():
        app = app_for(workspace)
        async with app.run_test(size=(100, 30)) as pilot:
            app.open_lesson(FIRST.id)
            await pilot.pause()
            await pilot.press("s")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen), "a solution before passing must ask first"
            await pilot.press("n")
            await pilot.pause()
            assert isinstance(app.screen, LessonScreen)
            assert not ProgressStore(workspace.state_dir).load().get(FIRST.id).solution_viewed
            await pilot.press("s", "y")
            await pilot.pause()
            assert isinstance(app.screen, SolutionScreen)
            code = text_of(app.screen.query_one("#solution-text"))
            assert code.strip() == FIRST.solution_path.read_text().strip()
            p = ProgressStore(workspace.state_dir).load().get(FIRST.id)
            assert p.solution_viewed and p.solution_forced
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, LessonScreen)

    drive(scenario)


def test_solution_after_a_pass_opens_directly(workspace, course):
    FIRST = course.exercises[0]
    ProgressStore(workspace.state_dir).record_grade(FIRST.id, "passed")

    async def scenario():
        app = app_for(workspace)
        async with app.run_test(size=(100, 30)) as pilot:
            app.open_lesson(FIRST.id)
            await pilot.pause()
            await pilot.press("s")
            await pilot.pause()
            assert isinstance(app.screen, SolutionScreen)
            p = ProgressStore(workspace.state_dir).load().get(FIRST.id)
            assert p.solution_viewed and not p.solution_forced

    drive(scenario)


def test_reset_asks_then_restores_the_stub_with_a_backup(workspace, course):
    FIRST = course.exercises[0]
    file = workspace.exercise_file(FIRST.id)
    file.write_text("# my attempt\n")

    async def scenario():
        app = app_for(workspace)
        async with app.run_test(size=(80, 24)) as pilot:
            app.open_lesson(FIRST.id)
            await pilot.pause()
            await pilot.press("r")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen)
            assert "exercises/" + FIRST.module in text_of(app.screen.query_one(".question"))
            await pilot.press("n")
            await pilot.pause()
            assert file.read_text() == "# my attempt\n", "saying no must leave the file alone"
            await pilot.press("r", "y")
            await pilot.pause()
            assert file.read_bytes() == FIRST.stub_path.read_bytes()
            backups = list(workspace.backups_dir.glob("*.py"))
            assert [b.read_text() for b in backups] == ["# my attempt\n"]
            assert ProgressStore(workspace.state_dir).load().get(FIRST.id).status == "not_started"

    drive(scenario)


def test_e_opens_the_file_in_editor(workspace, course, monkeypatch):
    FIRST = course.exercises[0]
    script = "import sys; open(sys.argv[1], 'a').write('# edited\\n')"
    monkeypatch.setenv("EDITOR", f"{shlex.quote(sys.executable)} -c {shlex.quote(script)}")
    monkeypatch.delenv("VISUAL", raising=False)

    async def scenario():
        app = app_for(workspace)
        async with app.run_test(size=(80, 24)) as pilot:
            app.open_lesson(FIRST.id)
            await pilot.pause()
            await pilot.press("e")
            await pilot.pause()
            assert workspace.exercise_file(FIRST.id).read_text().endswith("# edited\n")

    drive(scenario)


def test_help_lists_the_keys_of_the_current_screen(workspace, course):
    FIRST = course.exercises[0]
    async def scenario():
        app = app_for(workspace)
        async with app.run_test(size=(80, 24)) as pilot:
            app.open_lesson(FIRST.id)
            await pilot.pause()
            await pilot.press("question_mark")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            keys = text_of(app.screen.query_one("#help-keys"))
            for word in ("Edit", "Grade", "Hint", "Solution", "Next", "Prev", "Reset", "Quit", "Help"):
                assert word in keys, f"{word!r} missing from help:\n{keys}"
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, LessonScreen)

    drive(scenario)


def test_modes_and_theme_switch(workspace, course):
    async def scenario():
        app = app_for(workspace)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            for key, mode in [("2", "grade"), ("1", "learn")]:  # 3 and 4: see test_train_playground.py
                await pilot.press(key)
                await pilot.pause()
                assert app.current_mode == mode
            dark = app.current_theme.dark
            await pilot.press("ctrl+t")
            assert app.current_theme.dark is not dark

    drive(scenario)


def test_without_a_workspace_it_offers_to_create_one(course, tmp_path, monkeypatch):
    FIRST = course.exercises[0]
    monkeypatch.chdir(tmp_path)

    async def scenario():
        app = make_app(None, start_grader=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert type(app.screen).__name__ == "WelcomeScreen"
            await pilot.click("#create")
            await wait_until(pilot, lambda: isinstance(app.screen, LearnScreen), what="the Learn screen")
            assert app.workspace.root == (tmp_path / "gpt-workspace").resolve()
            assert (tmp_path / "gpt-workspace" / "exercises" / FIRST.module).is_file()

    drive(scenario)


def test_a_real_lesson_opens_with_its_table_of_contents(real_workspace):
    from tutor import curriculum

    first = curriculum.load().exercises[0]

    async def scenario():
        app = app_for(real_workspace)
        async with app.run_test(size=(120, 36)) as pilot:
            app.open_lesson(first.id)
            await wait_until(pilot, lambda: isinstance(app.screen, LessonScreen) and app.screen.query(LessonViewer),
                             what="the lesson screen")
            viewer = app.screen.query_one(LessonViewer)
            await wait_until(pilot, lambda: viewer.document.source.strip(), what="the real lesson")
            assert viewer.document.source == first.lesson_path.read_text(encoding="utf-8")
            assert viewer.show_table_of_contents, "a wide terminal shows the table of contents"
            await wait_until(pilot, lambda: len(viewer.document.table_of_contents) > 3, what="the contents")

    drive(scenario)

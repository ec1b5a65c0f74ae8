"""A lesson and its exercise: the Markdown with a table of contents, the learner's file, and the exercise's
verbs (edit, grade, hint, solution, next/previous, reset)."""

from __future__ import annotations

import os
import subprocess

from textual.app import ComposeResult, SuspendNotSupported
from textual.binding import Binding
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Static

from tutor import portable
from tutor.curriculum import Exercise
from tutor.progress import Progress
from tutor.ui.icons import progress_label
from tutor.ui.screens.learn import shown_path
from tutor.ui.widgets.hint_panel import HintPanel
from tutor.ui.widgets.lesson_viewer import LessonViewer
from tutor.ui.widgets.mode_tabs import ModeTabs

TOC_MIN_WIDTH = 110  # below this the table of contents starts hidden (t shows it)


class LessonScreen(Screen):
    CSS_PATH = "lesson.tcss"
    BINDINGS = [
        Binding("e", "edit", "Edit"),
        Binding("g", "grade", "Grade"),
        Binding("h", "hint", "Hint"),
        Binding("s", "solution", "Solution"),
        Binding("n", "next", "Next"),
        Binding("p", "previous", "Prev"),
        Binding("r", "reset", "Reset"),
        Binding("t", "toggle_toc", "Table of contents on/off", show=False),
        Binding("escape", "back", "Back to the course list", show=False),
    ]

    def __init__(self, exercise_id: str, anchor: str | None = None):
        super().__init__()
        self.exercise_id = exercise_id
        self.anchor = anchor

    @property
    def exercise(self) -> Exercise:
        return self.app.course.get(self.exercise_id)

    def compose(self) -> ComposeResult:
        yield ModeTabs("learn")
        yield Static("", id="lesson-title")
        yield Static("", id="exercise-file")
        lessons = {ex.lesson: ex.id for ex in self.app.course.exercises}
        yield LessonViewer(lessons, id="lesson", show_table_of_contents=self.app.size.width >= TOC_MIN_WIDTH)
        yield HintPanel(id="hints")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.watch(self.app, "progress", self._show_status)
        self.show(self.exercise_id, self.anchor)

    # -- showing an exercise --------------------------------------------------------------------------------
    def show(self, exercise_id: str, anchor: str | None = None) -> None:
        self.exercise_id, self.anchor = exercise_id, anchor
        ex = self.exercise
        ws = self.app.workspace
        file = ws.exercise_file(ex.id)
        self.query_one("#exercise-file", Static).update(Content.assemble(
            Content.styled("Your file: ", "$text-muted"), Content.styled(f"exercises/{ex.module}", "bold"),
            Content.styled(f"   {shown_path(file)}", "$text-muted")))
        self._show_status(self.app.progress)
        target = str(ex.lesson_path) + (f"#{anchor}" if anchor else "")
        self.run_worker(self.query_one(LessonViewer).go(target), group="lesson", exclusive=True)

    def _show_status(self, progress: Progress) -> None:
        ex = self.exercise
        p = progress.get(ex.id)
        attempts = f"  ·  {p.attempts} attempt{'s' if p.attempts != 1 else ''}" if p.attempts else ""
        self.query_one("#lesson-title", Static).update(Content.assemble(
            Content.styled(f"{ex.number}. {ex.title}", "bold"), "  ", progress_label(p),
            Content.styled(attempts, "$text-muted")))
        self.query_one(HintPanel).show_hints(ex.hints, p.hints_used)

    # -- verbs ------------------------------------------------------------------------------------------------
    def action_grade(self) -> None:
        self.app.grade(self.exercise_id)

    def action_hint(self) -> None:
        ex = self.exercise
        before = self.app.progress.get(ex.id).hints_used
        shown = self.app.store.use_hint(ex.id, len(ex.hints))
        self.app.reload_progress()
        if shown == before:
            self.notify("That was the last hint. Once you pass, s shows the reference solution.")

    def action_solution(self) -> None:
        ex = self.exercise
        if self.app.progress.get(ex.id).passed_ever:
            self._show_solution(forced=False)
            return
        from tutor.ui.screens.confirm import ConfirmScreen

        self.app.push_screen(
            ConfirmScreen(f"{ex.id} has not passed yet. The solution is there for after you pass; looking now "
                          "is noted in your progress. Show it anyway?", yes="Show it", no="Not yet"),
            lambda yes: self._show_solution(forced=True) if yes else None)

    def _show_solution(self, forced: bool) -> None:
        from tutor.ui.screens.solution import SolutionScreen

        ex = self.exercise
        self.app.progress = self.app.store.record("solution", ex.id, forced=forced)
        self.app.push_screen(SolutionScreen(ex))

    def action_reset(self) -> None:
        from tutor.ui.screens.confirm import ConfirmScreen

        ex = self.exercise
        self.app.push_screen(
            ConfirmScreen(f"Put the original stub back in exercises/{ex.module}? Your version is kept in "
                          ".tutor/backups/.", yes="Reset", no="Cancel"),
            lambda yes: self._reset() if yes else None)

    def _reset(self) -> None:
        ex = self.exercise
        backup = self.app.workspace.reset(ex.id)
        self.app.expect_own_write()
        self.app.progress = self.app.store.record("reset", ex.id)
        self.app.results.pop(ex.id, None)
        if self.app.exercise_id == ex.id:
            self.app.result = None
        where = f" Your previous version: {backup}" if backup else ""
        self.notify(f"exercises/{ex.module} is the original stub again.{where}", title="Reset", markup=False)

    def action_next(self) -> None:
        nxt = self.app.course.next_after(self.exercise_id)
        if nxt is None:
            self.notify("This is the last exercise.")
        else:
            self.app.open_lesson(nxt.id)

    def action_previous(self) -> None:
        ids = self.app.course.ids()
        i = ids.index(self.exercise_id)
        if i == 0:
            self.notify("This is the first exercise.")
        else:
            self.app.open_lesson(ids[i - 1])

    def action_edit(self) -> None:
        file = self.app.workspace.exercise_file(self.exercise_id)
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
        if not editor:
            self.notify(f"Set $EDITOR (for example: export EDITOR=nano) to edit from here. Your file: {file}",
                        severity="warning", timeout=10, markup=False)
            return
        argv = [*portable.split_command(editor), str(file)]
        try:
            try:
                with self.app.suspend():
                    code = subprocess.call(argv)
            except SuspendNotSupported:  # headless (tests): nothing to hand the terminal to
                code = subprocess.call(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        except OSError as e:
            self.notify(f"Could not run {editor!r}: {e}", severity="error", markup=False)
            return
        if code:
            self.notify(f"{editor} exited with status {code}.", severity="warning", markup=False)

    def action_toggle_toc(self) -> None:
        viewer = self.query_one(LessonViewer)
        viewer.show_table_of_contents = not viewer.show_table_of_contents

    def action_back(self) -> None:
        self.app.pop_screen()

"""Grade: every check of the current exercise with its message; a diagnosed mistake stands out with a link to
the lesson section. The app re-grades on each save of the file (the note at the top says how it watches)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, LoadingIndicator, Static

from tutor.grading.results import ExerciseResult
from tutor.ui.icons import progress_label, status_label
from tutor.ui.widgets.check_view import CheckView, lesson_target
from tutor.ui.widgets.mode_tabs import ModeTabs


class GradeScreen(Screen):
    CSS_PATH = "grade.tcss"
    BINDINGS = [
        Binding("g", "grade", "Re-grade"),
        Binding("w", "app.toggle_watch", "Watch on/off"),
        Binding("l", "lesson", "Lesson"),
        Binding("e", "edit", "Edit"),
        Binding("n", "next", "Next exercise"),
    ]

    def compose(self) -> ComposeResult:
        yield ModeTabs("grade")
        yield Static("", id="grade-title")
        yield Static("", id="watch-note")
        yield LoadingIndicator(id="grading")
        with VerticalScroll(id="checks"):
            yield Static("", id="summary")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.watch(self.app, "exercise_id", self._show_title)
        self.watch(self.app, "result", self._show_result)
        self.watch(self.app, "grading", self._show_grading)
        self.watch(self.app, "grader_state", lambda _: self._show_result(self.app.result))
        self.watch(self.app, "watch_note", self._show_watch_note)
        self.watch(self.app, "watch_degraded", self._show_watch_note)

    def _show_title(self, exercise_id: str | None) -> None:
        if exercise_id is None:
            return
        ex = self.app.course.get(exercise_id)
        self.query_one("#grade-title", Static).update(Content.assemble(
            Content.styled(f"{ex.number}. {ex.title}", "bold"), Content.styled(f"   exercises/{ex.module}",
                                                                             "$text-muted")))

    def _show_watch_note(self, _=None) -> None:
        widget = self.query_one("#watch-note", Static)
        widget.update(Content(self.app.watch_note))  # paths are text, not markup
        widget.set_class(self.app.watch_degraded, "-warning")

    def _show_grading(self, grading: str | None) -> None:
        self.query_one("#grading").display = grading is not None and grading == self.app.exercise_id

    def _show_result(self, result: ExerciseResult | None) -> None:
        checks = self.query_one("#checks", VerticalScroll)
        checks.remove_children(CheckView)
        summary = self.query_one("#summary", Static)
        if result is None:
            state = self.app.grader_state
            wait = " (the grader is warming up: the first grade takes a few seconds)" if state == "starting" else ""
            p = self.app.progress.get(self.app.exercise_id) if self.app.exercise_id else None
            if state == "failed":
                summary.update(Content.styled(self.app.grader_note, "$text-error"))
            elif p is not None and p.attempts:
                summary.update(Content.assemble("Last time: ", progress_label(p),
                                                f" after {p.attempts} attempt{'s' if p.attempts != 1 else ''}. "
                                                f"Press g to grade again{wait}."))
            else:
                summary.update(f"Not graded yet. Press g to grade{wait}.")
            return
        n_pass = sum(c.passed for c in result.checks)
        parts: list[Content | str] = [status_label(result.status),
                                      Content.styled(f"   {n_pass}/{len(result.checks)} checks pass, "
                                                     f"{result.duration_s:.1f} s", "$text-muted")]
        if result.message:
            parts += ["\n", Content(result.message)]
        if result.output and not result.passed:
            parts += ["\n", Content.styled("Your code printed:\n", "$text-muted"),
                      Content.styled(result.output.strip()[-1500:], "$text-muted")]
        if result.passed:
            nxt = self.app.course.next_after(result.id)
            parts += ["\n", Content.styled("Well done. ", "bold $text-success"),
                      f"Next: {nxt.number}. {nxt.title} (press n)" if nxt else "That was the last exercise."]
        summary.update(Content.assemble(*parts))
        lessons = {ex.lesson: ex.id for ex in self.app.course.exercises}
        show_messages = result.status != "not_started"  # every check would repeat the same NotImplementedError
        views = [CheckView(c, lessons, show_message=show_messages) for c in result.checks]
        checks.mount_all(views)
        first_failing = next((v for v, c in zip(views, result.checks) if not c.passed), None)
        if first_failing is not None and show_messages:
            # On a small terminal the failure may be below the fold: bring it into view.
            self.call_after_refresh(first_failing.scroll_visible, animate=False)

    def action_grade(self) -> None:
        self.app.grade(show=False)

    def action_next(self) -> None:
        """Open the lesson of the exercise after this one."""
        nxt = self.app.course.next_after(self.app.exercise_id) if self.app.exercise_id else None
        if nxt is None:
            self.notify("That was the last exercise.")
            return
        self.app.open_lesson(nxt.id)

    def action_edit(self) -> None:
        self.app.open_lesson(self.app.exercise_id)
        self.app.screen.action_edit()

    def action_lesson(self) -> None:
        """Open the lesson at the section that explains the first failing check (the diagnosed one first)."""
        result = self.app.result
        failing = [c for c in (result.checks if result else []) if not c.passed]
        failing.sort(key=lambda c: not c.diagnosis)
        lessons = {ex.lesson: ex.id for ex in self.app.course.exercises}
        for c in failing:
            target = lesson_target(c.lesson, lessons)
            if target:
                self.app.open_lesson(target[0], target[1] or None)
                return
        self.app.open_lesson(self.app.exercise_id)

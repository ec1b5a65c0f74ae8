"""Learn: the course by stage with a status per exercise, overall progress, and "continue where I left off"."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Button, Footer, OptionList, ProgressBar, Static

from tutor.progress import Progress
from tutor.statuses import count_passing, next_exercise
from tutor.ui.widgets.curriculum_list import CurriculumList
from tutor.ui.widgets.mode_tabs import ModeTabs


def shown_path(path: Path) -> str:
    """A path as the learner reads it: `~/gpt-workspace` under the home folder."""
    home = Path.home()
    return f"~/{path.relative_to(home).as_posix()}" if path.is_relative_to(home) and path != home else str(path)


def continue_target(app) -> str:
    """The exercise to continue: what to work on next (`tutor.statuses.next_exercise`), else the last one."""
    nxt = next_exercise(app.course, app.progress)
    if nxt is not None:
        return nxt.id
    last = app.progress.last_exercise
    return last if last in app.course.ids() else app.course.exercises[-1].id


class LearnScreen(Screen):
    # Its styles (learn.tcss) are loaded with the app's CSS_PATH, for a faster first paint.
    AUTO_FOCUS = "CurriculumList"
    BINDINGS = [
        Binding("c", "continue", "Continue"),
        Binding("enter", "open", "Open lesson", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield ModeTabs("learn")
        with Horizontal(id="overview"):
            yield Static("", id="progress-label")
            # The percentage is in the label: the bar's own is cut first on a narrow terminal.
            yield ProgressBar(total=len(self.app.course.exercises), show_eta=False, show_percentage=False,
                              id="progress")
            yield Button("Continue", id="continue", variant="primary", compact=True)
        yield CurriculumList(self.app.course, self.app.progress, id="curriculum")
        yield Static(Content(f"Workspace: {shown_path(self.app.workspace.root)}"), id="workspace-path")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.watch(self.app, "progress", self._show_progress)
        self.query_one(CurriculumList).highlight_exercise(continue_target(self.app))

    def _show_progress(self, progress: Progress) -> None:
        course = self.app.course
        passed, total = count_passing(course, progress), len(course.exercises)
        self.query_one("#progress-label", Static).update(f"{passed} of {total} pass ({passed * 100 // total}%)")
        self.query_one("#progress", ProgressBar).update(total=len(course.exercises), progress=passed)
        target = course.get(continue_target(self.app))
        self.query_one("#continue", Button).label = f"▶ Continue: {target.number}. {target.id}  (c)"
        self.query_one(CurriculumList).show_progress(progress)

    @on(OptionList.OptionSelected, "#curriculum")
    def _open(self, event: OptionList.OptionSelected) -> None:
        self.app.open_lesson(event.option.id)

    @on(Button.Pressed, "#continue")
    def action_continue(self) -> None:
        self.app.open_lesson(continue_target(self.app))

    def action_open(self) -> None:
        option = self.query_one(CurriculumList).highlighted_option
        if option is not None and not option.disabled:
            self.app.open_lesson(option.id)

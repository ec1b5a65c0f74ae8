"""The reference solution of one exercise, read-only, syntax-highlighted in the current theme's colours."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.highlight import highlight
from textual.screen import ModalScreen
from textual.widgets import Static

from tutor.curriculum import Exercise


class SolutionScreen(ModalScreen[None]):
    CSS_PATH = "dialogs.tcss"
    BINDINGS = [Binding("escape,q,s", "dismiss", "Close")]

    def __init__(self, exercise: Exercise):
        super().__init__()
        self.exercise = exercise

    def compose(self) -> ComposeResult:
        code = self.exercise.solution_path.read_text(encoding="utf-8")
        with Vertical(classes="dialog"):
            yield Static(f"Reference solution: solutions/{self.exercise.module}", classes="title")
            with VerticalScroll(id="solution-code"):
                yield Static(highlight(code, language="python"), id="solution-text")
            yield Static("Esc closes.", classes="hint")

    def action_dismiss(self) -> None:
        self.dismiss(None)

"""The one-line bar at the top of every screen: the modes (clickable, with their keys) and the grader state."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Static

MODES = [("learn", "1", "Learn"), ("grade", "2", "Grade"), ("train", "3", "Train"),
         ("playground", "4", "Playground"), ("runs", "5", "Runs")]


class ModeTabs(Horizontal):
    DEFAULT_CSS = """
    ModeTabs {
        height: 1;
        dock: top;
        background: $panel;
        & > #tabs { width: 1fr; link-style: none; link-style-hover: bold; link-background-hover: $primary 40%; }
        & > #grader-state { width: auto; color: $text-muted; padding: 0 1; }
        & > #grader-state.-failed { color: $error; }
    }
    """

    def __init__(self, active: str):
        super().__init__()
        self.active = active

    def compose(self) -> ComposeResult:
        parts: list[Content | str | tuple[str, str]] = [Content.styled(" tutor ", "bold $text-accent"), " "]
        for mode, key, title in MODES:
            style = "reverse bold $primary" if mode == self.active else ""
            # No gap between tabs (each has its own padding): five modes, help and the grader state fit 80 columns.
            parts.append(Content.styled(f" {key} {title} ", f"{style} @click=app.goto('{mode}')".strip()))
        parts.append(Content.styled(" ? help ", "$text-muted @click=app.help"))
        yield Static(Content.assemble(*parts), id="tabs")
        yield Static("", id="grader-state")

    def on_mount(self) -> None:
        self.watch(self.app, "grader_state", self._show_grader_state)
        self.watch(self.app, "grading", self._show_grader_state)

    def _show_grader_state(self, _=None) -> None:
        state, grading = getattr(self.app, "grader_state", ""), getattr(self.app, "grading", None)
        label = self.query_one("#grader-state", Static)
        text = {"starting": "grader warming up…", "ready": "grader ready", "failed": "grader failed"}.get(state, "")
        if grading:
            text = f"grading {grading}…"
        label.update(text)
        label.set_class(state == "failed", "-failed")

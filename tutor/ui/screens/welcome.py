"""First run: no workspace found, so offer to create one (default ./gpt-workspace) with `init_workspace`."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Horizontal, Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Static

from tutor.workspace import DEFAULT_DIR, Workspace, WorkspaceError, init_workspace, needs_repair, repair_workspace

WELCOME = (
    "Welcome! This course builds a GPT from scratch, one graded exercise at a time.\n\n"
    "Your code lives in a workspace: a folder with your own copy of every exercise and your progress. "
    "None was found here (tutor looks in --workspace, $TUTOR_WORKSPACE, then this folder and its parents)."
)


class WelcomeScreen(Screen[Workspace | None]):
    CSS_PATH = "welcome.tcss"
    BINDINGS = [Binding("escape", "leave", "Quit")]

    def compose(self) -> ComposeResult:
        with Center():
            with Vertical(id="welcome"):
                yield Static("tutor", id="welcome-title")
                yield Static(WELCOME, id="welcome-text")
                lost = needs_repair(Path.cwd())  # here is a workspace that lost .tutor/: offer to repair it
                yield Static("Repair the workspace in:" if lost else "Create a workspace in:", id="welcome-label")
                yield Input(value="." if lost else f"./{DEFAULT_DIR}", id="workspace-dir")
                yield Static("", id="welcome-error")
                with Horizontal(id="welcome-buttons"):
                    yield Button("Quit", id="quit")
                    yield Button("Create workspace", id="create", variant="primary")
        yield Footer(show_command_palette=False)

    @on(Input.Submitted, "#workspace-dir")
    @on(Button.Pressed, "#create")
    def create(self) -> None:
        folder = Path(self.query_one("#workspace-dir", Input).value.strip() or DEFAULT_DIR)
        try:
            if needs_repair(folder):  # a workspace whose .tutor/ was deleted: recreate it, keep every file
                ws, _ = repair_workspace(folder)
                done = "Repaired"
            else:
                ws, done = init_workspace(folder), "Created"
        except (WorkspaceError, OSError) as e:
            self.query_one("#welcome-error", Static).update(Content(str(e)))
            return
        self.notify(f"{done} {ws.root}. Next time, start tutor from inside it (or pass --workspace).",
                    title="Workspace ready", timeout=8, markup=False)
        self.dismiss(ws)

    @on(Button.Pressed, "#quit")
    def action_leave(self) -> None:
        self.dismiss(None)

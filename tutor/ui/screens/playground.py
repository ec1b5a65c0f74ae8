"""Playground: pick a checkpoint of yours or GPT-2 weights, type a prompt, and watch the continuation stream in
from a child process (`tutor run generate … --events`), with temperature and top-k controls."""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, Select, Static

from tutor.runs import configs
from tutor.ui.messages import RunEnded, RunEvent
from tutor.ui.run_process import ChildRun
from tutor.ui.widgets.mode_tabs import ModeTabs

CHECKPOINT_SUFFIXES = (".pt", ".pth")
NO_MODEL = "no model yet: train one in Train (3)"


def find_checkpoints(runs_dir: Path) -> list[Path]:
    """The learner's checkpoints under `.tutor/runs/`, newest first."""
    if not runs_dir.is_dir():
        return []
    found = [p for p in runs_dir.rglob("*") if p.suffix in CHECKPOINT_SUFFIXES and p.is_file()]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


class PlaygroundScreen(Screen):
    CSS_PATH = "playground.tcss"
    BINDINGS = [
        Binding("ctrl+g", "generate", "Generate"),
        Binding("escape", "stop", "Stop / leave field"),
    ]

    def __init__(self):
        super().__init__()
        self.run: ChildRun | None = None
        self.generated = ""
        self.prompt_text = ""

    def compose(self) -> ComposeResult:
        yield ModeTabs("playground")
        with Horizontal(classes="row", id="model-row"):
            yield Label("Model ", classes="muted")
            options = self._model_options()
            yield Select(options, prompt=NO_MODEL, value=options[0][1] if options else Select.NULL, compact=True,
                         id="weights")
        with Horizontal(classes="row", id="sampling-row"):
            yield Label("Temperature ", classes="muted")
            yield Input("0.8", type="number", compact=True, id="temperature")
            yield Label("  Top-k ", classes="muted")
            yield Input("40", type="integer", compact=True, id="top-k")
            yield Label("  Tokens ", classes="muted")
            yield Input("60", type="integer", compact=True, id="max-tokens")
            yield Button("Generate", id="generate", variant="primary", compact=True)
            yield Button("Stop", id="stop", variant="error", compact=True, disabled=True)
        yield Input(placeholder="Type a prompt and press Enter", id="prompt", value="Every effort moves you")
        yield Static("Temperature 0 always picks the likeliest token; higher is more adventurous. Top-k 0 "
                     "keeps every token.", id="gen-status")
        with VerticalScroll(id="output-box"):
            yield Static("", id="output")
        yield Footer(show_command_palette=False)

    def _model_options(self) -> list[tuple[str, str]]:
        root = self.app.workspace.root
        options = []
        for p in find_checkpoints(self.app.workspace.runs_dir):
            label = str(p.relative_to(root)) if p.is_relative_to(root) else str(p)
            options.append((f"yours: {label}", str(p)))
        options += [(f"{name} (OpenAI's weights)", name) for name in configs.gpt2_weights_available()]
        return options

    def on_mount(self) -> None:
        self.query_one("#prompt", Input).focus()  # typing a prompt is what one comes here for; Esc leaves it

    def on_screen_resume(self) -> None:
        # A run may have saved a checkpoint since this screen was built.
        select = self.query_one("#weights", Select)
        current = select.value
        options = self._model_options()
        select.set_options(options)
        if any(v == current for _, v in options):
            select.value = current
        elif options:
            select.value = options[0][1]

    # -- generating -----------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.run is not None and self.run.running

    def _number(self, widget_id: str, cast, default, low):
        text = self.query_one(f"#{widget_id}", Input).value.strip()
        try:
            value = cast(text)
        except ValueError:
            return default
        return value if value >= low else default

    @on(Input.Submitted, "#prompt")
    @on(Button.Pressed, "#generate")
    def action_generate(self) -> None:
        if self.running:
            self.notify("Still generating; Esc stops it.")
            return
        prompt = self.query_one("#prompt", Input).value
        if not prompt.strip():
            self.notify("Type a prompt first.", severity="warning")
            return
        if self.query_one("#weights", Select).is_blank():
            self.notify("There is no model to prompt yet: train one in Train (3), then pick it here.",
                        severity="warning")
            return
        temperature = self._number("temperature", float, 0.8, 0.0)
        top_k = self._number("top-k", int, 40, 0)
        max_tokens = self._number("max-tokens", int, 60, 1)
        weights = str(self.query_one("#weights", Select).value)
        argv = self.app.launcher.generate(self.app.workspace.root, weights=weights, prompt=prompt,
                                          max_new_tokens=max_tokens, temperature=temperature, top_k=top_k)
        self.run = ChildRun(argv, cwd=self.app.workspace.root)
        self.app.child_runs.add(self.run)
        self.prompt_text, self.generated = prompt, ""
        self._show_output()
        self._set_status(f"Loading {Path(weights).name}…")
        self._set_running(True)
        self._follow(self.run)

    def action_stop(self) -> None:
        if self.running:
            self.run.stop()
        else:
            self.set_focus(None)  # out of the prompt, so that 1-4 and q work again

    @on(Button.Pressed, "#stop")
    def _stop_pressed(self) -> None:
        self.action_stop()

    def _set_running(self, running: bool) -> None:
        self.query_one("#generate", Button).disabled = running
        self.query_one("#stop", Button).disabled = not running

    def _set_status(self, text: str, error: bool = False) -> None:
        status = self.query_one("#gen-status", Static)
        status.update(Content(text))  # a run's message is text, not markup
        status.set_class(error, "-error")

    def _show_output(self) -> None:
        self.query_one("#output", Static).update(Content.assemble(
            Content.styled(self.prompt_text, "$text-muted"), Content.styled(self.generated, "bold")))
        self.query_one("#output-box", VerticalScroll).scroll_end(animate=False)

    @work(thread=True, exclusive=True, group="generate", exit_on_error=False)
    def _follow(self, run: ChildRun) -> None:
        try:
            run.start()
        except OSError as e:
            self.post_message(RunEvent({"event": "error", "message": f"Could not start: {e}"}))
            self.post_message(RunEnded(None, False, ""))
            return
        for event in run.events():
            self.post_message(RunEvent(event))
        self.post_message(RunEnded(run.wait(), run.stop_requested, run.stderr_tail()))

    @on(RunEvent)
    def _event(self, message: RunEvent) -> None:
        e = message.event
        kind = e.get("event")
        if kind == "start":
            self._set_status("Generating…")
        elif kind == "token":
            self.generated += e.get("text", "")
            self._show_output()
        elif kind == "done":
            n = e.get("tokens") or e.get("new_tokens")
            rate = e.get("tokens_per_s")
            extra = f" {n} tokens" if n else ""
            extra += f", {rate:.1f} tokens/s" if isinstance(rate, (int, float)) else ""
            self._set_status(f"Done.{extra}")
        elif kind == "error":
            self._set_status(f"Could not generate: {e.get('message', '')}", error=True)

    @on(RunEnded)
    def _ended(self, message: RunEnded) -> None:
        self.app.child_runs.discard(self.run)
        self._set_running(False)
        if message.stopped:
            self._set_status("Stopped.")
        elif message.returncode not in (0, None) and "-error" not in self.query_one("#gen-status").classes:
            tail = " ".join(message.stderr_tail.strip().splitlines()[-3:])
            self._set_status(f"Generation exited with status {message.returncode}. {tail}", error=True)

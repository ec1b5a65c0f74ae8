"""Train: start a run in a child process (`tutor run pretrain … --events`), watch its loss curve, throughput,
time left and samples; Stop sends SIGINT, so the run saves a checkpoint before it exits."""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, ProgressBar, RadioButton, RadioSet, Select, Static

from tutor.runs import configs
from tutor.ui.messages import RunEnded, RunEvent
from tutor.ui.run_process import ChildRun
from tutor.ui.threads import Cancelled
from tutor.ui.widgets.loss_plot import LossPlot
from tutor.ui.widgets.mode_tabs import ModeTabs
from tutor.ui.widgets.run_stats import RunStats

RUN_KINDS = ("pretrain",)  # the runs this screen can start; classify and instruct join when they exist
PROGRESS_REDRAW_S = 0.2


class TrainScreen(Screen):
    CSS_PATH = "train.tcss"
    BINDINGS = [
        Binding("s", "start", "Start"),
        Binding("x", "stop", "Stop (saves)"),
        Binding("escape", "leave_field", "Leave field", show=False),
    ]

    def __init__(self):
        super().__init__()
        self.run: ChildRun | None = None
        self.checkpoint: str | None = None
        self.events: list[dict] = []  # everything the current run said (tests and the curious read it)
        self._progress: dict | None = None  # the newest progress event not shown yet

    def compose(self) -> ComposeResult:
        yield ModeTabs("train")
        with Horizontal(id="run-kind-row"):
            yield Label("Run ", classes="muted")
            with RadioSet(id="run-kind", compact=True):
                for i, kind in enumerate(RUN_KINDS):
                    yield RadioButton(kind, value=i == 0, id=f"kind-{kind}")
        with Horizontal(id="options"):
            yield Label("Config ", classes="muted")
            yield Select([(name, name) for name in configs.PRESETS], value=next(iter(configs.PRESETS)),
                         allow_blank=False, compact=True, id="config")
            yield Label(" Epochs ", classes="muted")
            yield Input("1", type="integer", compact=True, id="epochs", max_length=4)
            yield Label(" Device ", classes="muted")
            yield Select([(d, d) for d in configs.DEVICES], value=configs.DEVICES[0], allow_blank=False, compact=True,
                         id="device")
            yield Button("▶ Start", id="start", variant="success", compact=True)
            yield Button("■ Stop", id="stop", variant="error", compact=True, disabled=True)
        yield Static("Pick the options and press s (or ▶ Start). The run uses your exercises where they pass "
                     "and the reference elsewhere.", id="run-status")
        yield ProgressBar(total=100, show_eta=False, id="run-progress")
        yield RunStats(id="run-stats")
        yield LossPlot(id="loss")
        with VerticalScroll(id="sample-box"):
            yield Static("", id="sample")
        yield Footer(show_command_palette=False)

    # -- starting and stopping ----------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.run is not None and self.run.running

    @on(Button.Pressed, "#start")
    def action_start(self) -> None:
        if self.running:
            self.notify("A run is already going; stop it first (x).")
            return
        epochs_text = self.query_one("#epochs", Input).value.strip()
        epochs = int(epochs_text) if epochs_text.isdigit() and int(epochs_text) > 0 else None
        argv = self.app.launcher.pretrain(
            self.app.workspace.root, config=str(self.query_one("#config", Select).value), epochs=epochs,
            device=str(self.query_one("#device", Select).value))
        self.run = ChildRun(argv, cwd=self.app.workspace.root)
        self.app.child_runs.add(self.run)
        self.events, self.checkpoint = [], None
        self.query_one(LossPlot).clear()
        self.query_one(RunStats).clear()
        self.query_one("#sample", Static).update("")
        self.query_one("#run-progress", ProgressBar).update(total=None, progress=0)
        self._set_status("Starting the run (the first step imports torch and builds the model)…")
        self._set_running(True)
        self._follow(self.run)

    @on(Button.Pressed, "#stop")
    def action_stop(self) -> None:
        if not self.running:
            return
        self.run.stop()
        self._set_status("Stopping: the run saves a checkpoint, then exits…")

    def action_leave_field(self) -> None:
        self.set_focus(None)  # so that 1-4, s, x and q work again

    def _set_running(self, running: bool) -> None:
        self.query_one("#start", Button).disabled = running
        self.query_one("#stop", Button).disabled = not running

    def _set_status(self, text: str | Content, error: bool = False) -> None:
        status = self.query_one("#run-status", Static)
        status.update(Content(text) if isinstance(text, str) else text)  # text, not markup
        status.set_class(error, "-error")

    @work(thread=True, exclusive=True, group="train", exit_on_error=False)
    def _follow(self, run: ChildRun) -> None:
        """Read the child's events until it exits (the app stops it on quit, which ends this loop)."""
        try:
            run.start()
        except OSError as e:
            self.post_message(RunEvent({"event": "error", "message": f"Could not start the run: {e}"}))
            self.post_message(RunEnded(None, False, ""))
            return
        try:
            for event in run.events():
                self.post_message(RunEvent(event))
        except (ValueError, Cancelled):  # stdout closed under us
            pass
        self.post_message(RunEnded(run.wait(), run.stop_requested, run.stderr_tail()))

    # -- events ----------------------------------------------------------------------------------------------
    @on(RunEvent)
    def _event(self, message: RunEvent) -> None:
        e = message.event
        self.events.append(e)
        kind = e.get("event")
        if kind == "start":
            filled = e.get("filled_in") or []
            note = (f" Filled in from the reference: {', '.join(filled)}." if filled
                    else " All of it is your code.")
            self._set_status(Content.assemble(
                Content.styled(f"Training ({e.get('run', 'pretrain')}) on {e.get('device', '?')}.", "bold"),
                Content.styled(note, "$text-muted")))
            if e.get("total_steps"):
                self.query_one("#run-progress", ProgressBar).update(total=e["total_steps"], progress=0)
        elif kind == "progress":
            # A fast run reports every step; show the newest a few times a second, not every one.
            if self._progress is None:
                self.set_timer(PROGRESS_REDRAW_S, self._show_progress)
            self._progress = e
        elif kind == "eval":
            self.query_one(LossPlot).add_eval(e.get("tokens_seen", e.get("step", 0)), e["train_loss"], e["val_loss"])
            self.query_one(RunStats).show(train_loss=e["train_loss"], val_loss=e["val_loss"])
        elif kind == "sample":
            self.query_one("#sample", Static).update(Content.assemble(
                Content.styled(f"Sample at step {e.get('step', '?')}: ", "bold $text-accent"),
                e.get("text", "")))
        elif kind == "checkpoint":
            self.checkpoint = e.get("path")
            self.notify(f"Checkpoint saved: {self.checkpoint}", timeout=4, markup=False)
        elif kind == "done":
            self.checkpoint = e.get("checkpoint") or self.checkpoint
        elif kind == "error":
            self._set_status(f"The run failed: {e.get('message', '')}", error=True)

    def _show_progress(self) -> None:
        e, self._progress = self._progress, None
        if e is None:
            return
        if e.get("total_steps"):
            self.query_one("#run-progress", ProgressBar).update(total=e["total_steps"], progress=e.get("step", 0))
        self.query_one(RunStats).show(step=e.get("step"), total_steps=e.get("total_steps"), epoch=e.get("epoch"),
                                      tokens_per_s=e.get("tokens_per_s"), eta_s=e.get("eta_s"))

    @on(RunEnded)
    def _ended(self, message: RunEnded) -> None:
        self.app.child_runs.discard(self.run)
        self._show_progress()
        self._set_running(False)
        failed = any(e.get("event") == "error" for e in self.events)
        where = ""
        if self.checkpoint:
            path, root = Path(self.checkpoint), self.app.workspace.root
            where = f" Checkpoint: {path.relative_to(root) if path.is_relative_to(root) else path}."
        if failed:
            return  # the error event already says what happened
        if message.stopped:
            self._set_status(f"Stopped.{where} Try it in the Playground (4).")
        elif message.returncode == 0:
            self._set_status(f"Finished.{where} Try it in the Playground (4).")
        else:
            tail = message.stderr_tail.strip().splitlines()[-3:]
            self._set_status(f"The run exited with status {message.returncode}. " + " ".join(tail), error=True)

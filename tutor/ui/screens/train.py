"""Train: start a run in a child process (`tutor run pretrain|classify|instruct|judge … --events`) and watch it:
the loss curve, throughput, time left and samples; classify's accuracy; instruct's responses beside the
reference answers; the judge's scores as a histogram. Stop sends SIGINT, so a run saves a checkpoint (the judge:
what it scored) before it exits."""

from __future__ import annotations

from pathlib import Path

from rich import box
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import (Button, Checkbox, Footer, Input, Label, ProgressBar, RadioButton, RadioSet, Select,
                             Static)

from tutor.runs import configs
from tutor.runs.judge import resolve_host
from tutor.runs.registry import model_checkpoints, responses_files
from tutor.ui.messages import RunEnded, RunEvent
from tutor.ui.run_files import shown_path
from tutor.ui.run_process import ChildRun
from tutor.ui.threads import Cancelled
from tutor.ui.widgets.loss_plot import AccuracyPlot, LossPlot
from tutor.ui.widgets.mode_tabs import ModeTabs
from tutor.ui.widgets.run_stats import RunStats
from tutor.ui.widgets.score_histogram import ScoreHistogram

RUN_KINDS = ("pretrain", "classify", "instruct", "judge")  # the runs this screen can start
PROGRESS_REDRAW_S = 0.2
RESPONSES_SHOWN = 3  # instruct: the newest responses beside their reference answers
WORST_SHOWN = 5  # judge: the worst-scored answers at the end
FILLED_NAMED = 6  # the first exercises filled in from the reference are named, the rest counted (space is short)
SCRATCH = "scratch:"  # init values "scratch:tiny", "scratch:small": a random model of that config
NO_RESPONSES = "no responses yet: run instruct first"
TRAINABLE_CHOICES = [("default", "")] + [  # default: the run decides
    (t.replace("-", " "), t) for t in configs.CLASSIFY_TRAINABLE]


def _short(text: str, n: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


class TrainScreen(Screen):
    CSS_PATH = "train.tcss"
    BINDINGS = [
        Binding("s", "start", "Start"),
        Binding("x", "stop", "Stop (saves)"),
        Binding("j", "judge_responses", "Judge them"),
        Binding("escape", "leave_field", "Leave field", show=False),
    ]

    def __init__(self):
        super().__init__()
        self.run: ChildRun | None = None
        self.run_kind = "pretrain"  # the kind of the current (or last) run, which the panels show
        self.checkpoint: str | None = None
        self.responses: str | None = None  # the responses.json the last instruct run wrote (j judges it)
        self.events: list[dict] = []  # everything the current run said (tests and the curious read it)
        self.shown_responses: list[dict] = []
        self._progress: dict | None = None  # the newest progress event not shown yet

    # -- layout ----------------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        devices = [(d, d) for d in configs.DEVICES]
        yield ModeTabs("train")
        with Horizontal(id="run-kind-row"):
            yield Label("Run ", classes="muted")
            with RadioSet(id="run-kind", compact=True):
                for i, kind in enumerate(RUN_KINDS):
                    yield RadioButton(kind, value=i == 0, id=f"kind-{kind}")
            yield Button("▶ Start", id="start", variant="success", compact=True)
            yield Button("■ Stop", id="stop", variant="error", compact=True, disabled=True)
        with Horizontal(id="options", classes="options"):
            yield Label("Config ", classes="muted")
            yield Select([(name, name) for name in configs.PRESETS], value=next(iter(configs.PRESETS)),
                         allow_blank=False, compact=True, id="config")
            yield Label(" Epochs ", classes="muted")
            yield Input("1", type="integer", compact=True, id="epochs", max_length=4, classes="epochs")
            yield Label(" Device ", classes="muted")
            yield Select(devices, value=configs.DEVICES[0], allow_blank=False, compact=True, id="device",
                         classes="device")
        with Vertical(id="classify-options", classes="options"):
            with Horizontal(classes="row"):
                yield Label("Data ", classes="muted")
                yield Select([("builtin", "builtin"), ("sms-spam", "sms-spam")], value="builtin", allow_blank=False,
                             compact=True, id="classify-data", classes="data")
                yield Label(" Init ", classes="muted")
                yield Select(self._init_options(), value=f"{SCRATCH}tiny", allow_blank=False, compact=True,
                             id="classify-init", classes="init")
            with Horizontal(classes="row"):
                yield Label("Train ", classes="muted")
                yield Select(TRAINABLE_CHOICES, value="", allow_blank=False, compact=True, id="classify-trainable")
                yield Label(" Token ", classes="muted")
                yield Select([(t, t) for t in configs.CLASSIFY_TOKENS], value="last", allow_blank=False, compact=True,
                             id="classify-token")
                yield Label(" Epochs ", classes="muted")
                yield Input("5", type="integer", compact=True, id="classify-epochs", max_length=4, classes="epochs")
                yield Label(" Device ", classes="muted")
                yield Select(devices, value=configs.DEVICES[0], allow_blank=False, compact=True,
                             id="classify-device", classes="device")
        with Vertical(id="instruct-options", classes="options"):
            with Horizontal(classes="row"):
                yield Label("Data ", classes="muted")
                yield Select([("builtin", "builtin"), ("book", "book")], value="builtin", allow_blank=False,
                             compact=True, id="instruct-data", classes="data")
                yield Label(" Init ", classes="muted")
                options = self._init_options()
                yield Select(options, value=options[0][1], allow_blank=False, compact=True, id="instruct-init",
                             classes="init")
            with Horizontal(classes="row"):
                yield Label("Epochs ", classes="muted")
                yield Input("2", type="integer", compact=True, id="instruct-epochs", max_length=4, classes="epochs")
                yield Checkbox("mask the prompt", compact=True, id="instruct-mask")
                yield Label(" Device ", classes="muted")
                yield Select(devices, value=configs.DEVICES[0], allow_blank=False, compact=True,
                             id="instruct-device", classes="device")
        with Vertical(id="judge-options", classes="options"):
            with Horizontal(classes="row"):
                yield Label("Responses ", classes="muted")
                options = self._responses_options()
                yield Select(options, prompt=NO_RESPONSES, value=options[0][1] if options else Select.NULL,
                             compact=True, id="judge-responses")
            with Horizontal(classes="row"):
                yield Label("API ", classes="muted")
                yield Select([("ollama", "ollama"), ("openai", "openai")], value="ollama", allow_blank=False,
                             compact=True, id="judge-api")
                yield Label(" Model ", classes="muted")
                yield Input("", placeholder="llama3", compact=True, id="judge-model")
                yield Label(" Host ", classes="muted")
                yield Input("", placeholder=resolve_host(None), compact=True, id="judge-host")
        yield Static("Pick a run (←/→, space) and its options, then press s (or ▶ Start). The run uses your "
                     "exercises where they pass and the reference elsewhere.", id="run-status")
        yield ProgressBar(total=100, show_eta=False, id="run-progress")
        yield RunStats(id="run-stats")
        with Horizontal(id="plots"):
            yield LossPlot(id="loss")
            yield AccuracyPlot(id="accuracy")
        yield ScoreHistogram(id="scores")
        with VerticalScroll(id="sample-box"):
            yield Static("", id="sample")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self._show_options("pretrain")
        self._show_panels("pretrain")

    def on_screen_resume(self) -> None:
        self._refresh_choices()  # a run may have saved a checkpoint or responses since this screen was built

    def _init_options(self) -> list[tuple[str, str]]:
        """Where classify and instruct can start: the learner's checkpoints (newest first), scratch models,
        and the GPT-2 weights already downloaded."""
        runs = self.app.workspace.runs_dir
        options = [(f"yours: {p.parent.name}", str(p)) for p in model_checkpoints(runs)]  # the run's folder
        options += [(f"scratch ({name})", f"{SCRATCH}{name}") for name in configs.PRESETS]
        options += [(f"{name} (OpenAI's weights)", name) for name in configs.gpt2_weights_available()]
        return options

    def _responses_options(self) -> list[tuple[str, str]]:
        root = self.app.workspace.root
        return [(shown_path(p, root), str(p)) for p in responses_files(self.app.workspace.runs_dir)]

    def _refresh_choices(self, prefer_responses: str | None = None) -> None:
        for select_id, options in (("#classify-init", self._init_options()),
                                   ("#instruct-init", self._init_options()),
                                   ("#judge-responses", self._responses_options())):
            select = self.query_one(select_id, Select)
            current = prefer_responses if select_id == "#judge-responses" and prefer_responses else select.value
            select.set_options(options)
            if any(v == current for _, v in options):
                select.value = current
            elif options:  # classify keeps a scratch model as its default; the others take the newest
                select.value = f"{SCRATCH}tiny" if select_id == "#classify-init" else options[0][1]

    @property
    def kind(self) -> str:
        """The run kind the radio set picks (what s starts)."""
        pressed = self.query_one("#run-kind", RadioSet).pressed_button
        return pressed.id.removeprefix("kind-") if pressed is not None and pressed.id else RUN_KINDS[0]

    @on(RadioSet.Changed, "#run-kind")
    def _kind_changed(self, event: RadioSet.Changed) -> None:
        self._show_options(self.kind)
        if not self.running:
            self._show_panels(self.kind)

    @on(Select.Changed, "#judge-api")
    def _api_changed(self, event: Select.Changed) -> None:
        """The defaults the judge run uses when Model and Host are left empty, as placeholders."""
        openai = event.value == "openai"
        self.query_one("#judge-model", Input).placeholder = "the server's model" if openai else "llama3"
        self.query_one("#judge-host", Input).placeholder = resolve_host(None, str(event.value))

    def _show_options(self, kind: str) -> None:
        self.query_one("#options").display = kind == "pretrain"
        for other in RUN_KINDS[1:]:
            self.query_one(f"#{other}-options").display = other == kind

    def _show_panels(self, kind: str) -> None:
        """Each kind's live view: loss curves (plus accuracy for classify), or the judge's histogram."""
        self.query_one("#plots").display = kind != "judge"
        self.query_one("#scores").display = kind == "judge"
        self.query_one(AccuracyPlot).display = kind == "classify"
        box = self.query_one("#sample-box")
        box.display = kind != "classify"  # classify has no samples: its curves get the room
        box.set_class(kind in ("instruct", "judge"), "-wide")  # responses and the worst answers are tables

    # -- starting and stopping ----------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.run is not None and self.run.running

    def _epochs(self, widget_id: str) -> int | None:
        text = self.query_one(widget_id, Input).value.strip()
        return int(text) if text.isdigit() and int(text) > 0 else None

    def _init(self, widget_id: str) -> tuple[str, str | None]:
        """The --init (and --config, for a scratch model) an init Select stands for."""
        value = str(self.query_one(widget_id, Select).value)
        return ("scratch", value.removeprefix(SCRATCH)) if value.startswith(SCRATCH) else (value, None)

    def _argv(self, kind: str) -> list[str] | None:
        """The command line for `kind` from its options; None (after saying why) when it cannot start."""
        launcher, root = self.app.launcher, self.app.workspace.root
        if kind == "classify":
            init, config = self._init("#classify-init")
            return launcher.classify(
                root, data=str(self.query_one("#classify-data", Select).value), init=init, config=config,
                trainable=str(self.query_one("#classify-trainable", Select).value) or None,
                token=str(self.query_one("#classify-token", Select).value), epochs=self._epochs("#classify-epochs"),
                device=str(self.query_one("#classify-device", Select).value))
        if kind == "instruct":
            init, config = self._init("#instruct-init")
            return launcher.instruct(
                root, data=str(self.query_one("#instruct-data", Select).value), init=init, config=config,
                epochs=self._epochs("#instruct-epochs"), mask_prompt=self.query_one("#instruct-mask", Checkbox).value,
                device=str(self.query_one("#instruct-device", Select).value))
        if kind == "judge":
            responses = self.query_one("#judge-responses", Select).value
            if responses is Select.NULL:
                self.notify("No responses to judge yet: run instruct first (it writes responses.json).",
                            severity="warning")
                return None
            return launcher.judge(root, responses=str(responses), api=str(self.query_one("#judge-api", Select).value),
                                  model=self.query_one("#judge-model", Input).value.strip() or None,
                                  host=self.query_one("#judge-host", Input).value.strip() or None)
        return launcher.pretrain(root, config=str(self.query_one("#config", Select).value),
                                 epochs=self._epochs("#epochs"), device=str(self.query_one("#device", Select).value))

    @on(Button.Pressed, "#start")
    def action_start(self) -> None:
        self._start(self.kind)

    def _start(self, kind: str) -> None:
        if self.running:
            self.notify("A run is already going; stop it first (x).")
            return
        argv = self._argv(kind)
        if argv is None:
            return
        self.run_kind = kind
        self.run = ChildRun(argv, cwd=self.app.workspace.root)
        self.app.child_runs.add(self.run)
        self.events, self.checkpoint, self.shown_responses = [], None, []
        if kind == "instruct":
            self.responses = None
        self.query_one(LossPlot).clear()
        self.query_one(LossPlot).x_label = "examples seen" if kind == "classify" else "tokens seen"
        self.query_one(AccuracyPlot).clear()
        self.query_one(ScoreHistogram).clear()
        self.query_one(RunStats).clear()
        self.query_one("#sample", Static).update("")
        self.query_one("#run-progress", ProgressBar).update(total=None, progress=0)
        self._show_panels(kind)
        data = {"classify": "#classify-data", "instruct": "#instruct-data"}.get(kind)
        data = str(self.query_one(data, Select).value) if data else "builtin"
        self._set_status("Starting the judge…" if kind == "judge" else
                         "Starting the run (the first step imports torch and builds the model)…" if data == "builtin"
                         else f"Starting the run: it downloads {data} on first use, imports torch and builds the "
                              f"model…")
        self._set_running(True)
        self._follow(self.run)

    @on(Button.Pressed, "#stop")
    def action_stop(self) -> None:
        if not self.running:
            return
        self.run.stop()
        self._set_status("Stopping: the judge keeps what it scored, then exits…" if self.run_kind == "judge" else
                         "Stopping: the run saves a checkpoint, then exits…")

    def action_judge_responses(self) -> None:
        """Judge the responses the last instruct run wrote, with the judge options as they are."""
        if self.running or not self.responses:
            return
        self.query_one("#kind-judge", RadioButton).value = True
        self._refresh_choices(prefer_responses=self.responses)
        self.query_one("#judge-responses", Select).value = self.responses
        self._show_options("judge")
        self._start("judge")  # the radio set tells of its new choice only later

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "judge_responses":
            return bool(self.responses) and not self.running  # shown in the footer only when it can run
        return True

    def action_leave_field(self) -> None:
        self.set_focus(None)  # so that 1-4, s, x and q work again

    def _set_running(self, running: bool) -> None:
        self.query_one("#start", Button).disabled = running
        self.query_one("#stop", Button).disabled = not running
        self.refresh_bindings()

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
            self._started(e)
        elif kind == "progress":
            # A fast run reports every step; show the newest a few times a second, not every one.
            if self._progress is None:
                self.set_timer(PROGRESS_REDRAW_S, self._show_progress)
            self._progress = e
        elif kind == "eval":
            x = e.get("examples_seen") if self.run_kind == "classify" else None
            x = x if x is not None else e.get("tokens_seen", e.get("step", 0))
            self.query_one(LossPlot).add_eval(x, e["train_loss"], e["val_loss"])
            self.query_one(RunStats).show(train_loss=e["train_loss"], val_loss=e["val_loss"],
                                          train_acc=e.get("train_acc"), val_acc=e.get("val_acc"))
            if e.get("train_acc") is not None and e.get("val_acc") is not None:
                self.query_one(AccuracyPlot).add_eval(x, e["train_acc"], e["val_acc"])
        elif kind == "sample":
            self.query_one("#sample", Static).update(Content.assemble(
                Content.styled(f"Sample at step {e.get('step', '?')}: ", "bold $text-accent"),
                e.get("text", "")))
        elif kind == "response":
            self._response(e)
        elif kind == "judged":
            self.query_one(ScoreHistogram).add(e.get("index", len(self.events)), e.get("score"))
        elif kind == "checkpoint":
            self.checkpoint = e.get("path")
            self.notify(f"Checkpoint saved: {self.checkpoint}", timeout=4, markup=False)
        elif kind == "done":
            self.checkpoint = e.get("checkpoint") or self.checkpoint
            if self.run_kind == "instruct" and e.get("responses"):
                self.responses = e["responses"]
            if self.run_kind == "judge":
                self._judged_all(e)
        elif kind == "error":
            self._set_status(f"The run failed: {e.get('message', '')}", error=True)

    def _started(self, e: dict) -> None:
        if self.run_kind == "judge":
            scores = self.query_one(ScoreHistogram)
            scores.clear(total=e.get("total_steps") or 0)
            for index, score in e.get("resumed_scores") or []:
                scores.add(index, score)
            resumed = f" {e['resumed']} judged before are kept." if e.get("resumed") else ""
            self._set_status(Content.assemble(
                Content.styled(f"Judging {e.get('total_steps', '?')} responses with {e.get('model', '?')} at "
                               f"{e.get('host', '?')}.", "bold"),
                Content.styled(resumed + " Results are saved as they come; Stop keeps them.", "$text-muted")))
        else:
            filled = e.get("filled_in") or []
            named = ", ".join(filled[:FILLED_NAMED]) + (f" and {len(filled) - FILLED_NAMED} more"
                                                        if len(filled) > FILLED_NAMED else "")
            note = f" Filled in from the reference: {named}." if filled else " All of it is your code."
            self._set_status(Content.assemble(
                Content.styled(f"Training ({e.get('run', self.run_kind)}) on {e.get('device', '?')}.", "bold"),
                Content.styled(note, "$text-muted")))
        if e.get("total_steps"):
            self.query_one("#run-progress", ProgressBar).update(total=e["total_steps"], progress=e.get("resumed", 0))

    def _response(self, e: dict) -> None:
        """instruct answers its test entries after training: show the newest beside the reference answers."""
        self.shown_responses = [*self.shown_responses, e][-RESPONSES_SHOWN:]
        table = Table(expand=True, box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False)
        for name in ("Instruction", "Reference", "Your model"):
            table.add_column(name, ratio=1)
        for r in self.shown_responses:
            instruction = r.get("instruction", "") + (f"\n{r['input']}" if r.get("input") else "")
            table.add_row(Text(_short(instruction)), Text(_short(r.get("output", ""))),
                          Text(_short(r.get("model_response", ""))))
        self.query_one("#sample", Static).update(table)
        total = e.get("total")
        if total:
            self.query_one("#run-progress", ProgressBar).update(total=total, progress=e.get("index", 0) + 1)
        self._set_status(f"Trained. Answering the test entries: {e.get('index', 0) + 1} of {total or '?'}…")

    def _judged_all(self, e: dict) -> None:
        """The judge's done event: every score (earlier runs' too) and the worst answers."""
        histogram = self.query_one(ScoreHistogram)
        entries = e.get("entries")
        if entries:
            histogram.total = entries
        worst = e.get("worst") or []
        if not worst:
            return
        table = Table(expand=True, box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False)
        table.add_column("Worst", width=5, justify="right")
        for name in ("Instruction", "Reference", "Response"):
            table.add_column(name, ratio=1)
        for w in worst[:WORST_SHOWN]:
            table.add_row(Text(str(w.get("score"))), Text(_short(w.get("instruction", ""))),
                          Text(_short(w.get("output", ""))), Text(_short(w.get("response", ""))))
        self.query_one("#sample", Static).update(table)

    def _show_progress(self) -> None:
        e, self._progress = self._progress, None
        if e is None:
            return
        if e.get("total_steps"):
            self.query_one("#run-progress", ProgressBar).update(total=e["total_steps"], progress=e.get("step", 0))
        stats = self.query_one(RunStats)
        if self.run_kind == "judge":
            stats.show(step=e.get("step"), total_steps=e.get("total_steps"), eta_s=e.get("eta_s"))
        else:
            stats.show(step=e.get("step"), total_steps=e.get("total_steps"), epoch=e.get("epoch"),
                       tokens_per_s=e.get("tokens_per_s"), examples_per_s=e.get("examples_per_s"),
                       eta_s=e.get("eta_s"))

    @on(RunEnded)
    def _ended(self, message: RunEnded) -> None:
        self.app.child_runs.discard(self.run)
        self._show_progress()
        self._set_running(False)
        self._refresh_choices()
        bar = self.query_one("#run-progress", ProgressBar)
        if bar.total is None:  # it never started: no bar left pulsing
            bar.update(total=100, progress=0)
        if any(e.get("event") == "error" for e in self.events):
            return  # the error event already says what happened
        done = next((e for e in reversed(self.events) if e.get("event") == "done"), None)
        if message.stopped or (done or {}).get("interrupted"):
            self._set_status(f"Stopped. {self._next_step(done, stopped=True)}")
        elif message.returncode == 0:
            self._set_status(f"Finished. {self._next_step(done, stopped=False)}")
        else:
            tail = message.stderr_tail.strip().splitlines()[-3:]
            self._set_status(f"The run exited with status {message.returncode}. " + " ".join(tail), error=True)

    def _where(self, path: str | None, what: str) -> str:
        if not path:
            return ""
        return f"{what}: {shown_path(Path(path), self.app.workspace.root)}. "

    @staticmethod
    def _resume(done: dict) -> str:
        """The command that continues a stopped run (the run says it), for the shell."""
        return f"To go on: {done['resume']}" if done.get("resume") else "Start it again to train anew."

    def _next_step(self, done: dict | None, stopped: bool) -> str:
        """What the run left and what to do with it next."""
        done = done or {}
        if self.run_kind == "classify":
            acc = done.get("accuracy") or {}
            if stopped or not acc:
                return f"{self._where(self.checkpoint, 'Checkpoint')}{self._resume(done)}"
            return (f"Test accuracy {100 * acc.get('test', 0):.1f}% (train {100 * acc.get('train', 0):.1f}%, "
                    f"validation {100 * acc.get('validation', 0):.1f}%). {self._where(done.get('classifier'), 'Classifier')}"
                    f"Try it in the Playground's classify mode (4).")
        if self.run_kind == "instruct":
            if stopped or not self.responses:
                return (f"{self._where(self.checkpoint, 'Checkpoint')}{self._resume(done)} The test responses are "
                        f"written when a run finishes.")
            return f"{self._where(self.responses, 'Responses')}Press j to judge them."
        if self.run_kind == "judge":
            avg = done.get("average")
            score = f"Average score {avg:.1f} / 100 over {done.get('scored', 0)} of {done.get('entries', '?')} " \
                    f"responses ({len(done.get('missing') or [])} missing). " if avg is not None else \
                "No usable score yet. "
            again = "Start the judge again to go on where it stopped. " if stopped else ""
            return f"{score}{again}{self._where(done.get('out'), 'Results')}".strip()
        return f"{self._where(self.checkpoint, 'Checkpoint')}Try it in the Playground (4)."

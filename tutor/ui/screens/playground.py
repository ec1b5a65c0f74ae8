"""Playground: use the models the learner trained, in three modes, each a child process speaking `--events`.

- continue text: a checkpoint of yours or GPT-2 weights continues a prompt (`tutor run generate`), with
  temperature and top-k; the continuation streams in and the run's speed is shown.
- classify a message: a trained spam classifier (`tutor run classify --model RUN --text …`) labels what the
  learner types, with the spam probability; a short history stays on screen.
- chat (instructions): an instruction-tuned model (`tutor run instruct --model RUN --instruction …`) answers
  in a transcript; the Alpaca prompt is built by the run (the learner's `format_input`), not here, and each
  turn stands alone (the course's model remembers nothing between turns).

On arrival no text field has focus, so the mode keys (1-4, q) work; Enter (or a click) goes into the field,
Esc comes back out. The runs each mode offers are `tutor.ui.run_files`' (file names and metrics.json only): no
torch on this screen.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Button, ContentSwitcher, Footer, Input, Label, RadioButton, RadioSet, Select, Static

from tutor.runs import configs
from tutor.ui.messages import RunEnded, RunEvent
from tutor.ui.run_files import (classifier_label, find_checkpoints, find_classifiers, find_instruct_runs,
                                instruct_label, shown_path)
from tutor.ui.run_process import ChildRun
from tutor.ui.widgets.mode_tabs import ModeTabs

NO_MODEL = "no model yet: train one in Train (3)"
NO_CLASSIFIER = "no classifier yet: train one in Train (3): run classify"
NO_CHAT_MODEL = "no instruction-tuned model yet: train one in Train (3): run instruct"
MODES = (("continue", "continue text"), ("classify", "classify a message"), ("chat", "chat (instructions)"))
FIELDS = {"continue": "#prompt", "classify": "#message", "chat": "#instruction"}  # what Enter focuses
HISTORY = 8  # classified messages kept on screen
TURNS = 20  # chat turns kept on screen
NO_MEMORY = ("Each turn stands alone: the course's model has no memory of earlier turns. The run builds the "
             "Alpaca prompt with your format_input.")


def speed_line(event: dict) -> str:
    """'42 tokens in 1.3 s · 32 tok/s' from a done event (and whether the KV cache ran, when it says)."""
    n = event.get("tokens") or event.get("new_tokens")
    rate = event.get("tokens_per_s")
    if not isinstance(n, int):
        return ""
    parts = [f"{n} token{'s' if n != 1 else ''}"]
    if isinstance(rate, (int, float)) and rate > 0:
        parts[0] += f" in {n / rate:.1f} s"
        parts.append(f"{rate:.0f} tok/s" if rate >= 10 else f"{rate:.1f} tok/s")
    if isinstance(event.get("cached"), bool):
        parts.append("KV cache" if event["cached"] else "no KV cache")
    return " · ".join(parts)


@dataclass
class ChatTurn:
    instruction: str
    input: str
    answer: str = ""
    state: str = "waiting"  # waiting | answering | done | stopped | failed


class PlaygroundScreen(Screen):
    CSS_PATH = "playground.tcss"
    AUTO_FOCUS = ""  # no field takes the keys on arrival: 1-4 switch modes, Enter goes into the field
    BINDINGS = [
        Binding("enter", "focus_field", "Type"),
        Binding("m", "next_mode", "Mode"),
        Binding("ctrl+g", "generate", "Go"),
        Binding("escape", "stop", "Stop / leave field"),
    ]

    def __init__(self):
        super().__init__()
        self.run: ChildRun | None = None
        self.run_mode: str | None = None  # the mode whose pane the current run reports to
        self.generated = ""
        self.prompt_text = ""
        self.history: deque[dict] = deque(maxlen=HISTORY)  # label events, newest last
        self.turns: deque[ChatTurn] = deque(maxlen=TURNS)

    def compose(self) -> ComposeResult:
        yield ModeTabs("playground")
        with Horizontal(classes="row", id="mode-row"):
            yield Label("Mode ", classes="muted")
            with RadioSet(id="pg-mode", compact=True):
                for i, (mode, title) in enumerate(MODES):
                    yield RadioButton(title, value=i == 0, id=f"mode-{mode}")
        with ContentSwitcher(initial="continue", id="panes"):
            with Vertical(id="continue"):
                yield from self._compose_continue()
            with Vertical(id="classify"):
                yield from self._compose_classify()
            with Vertical(id="chat"):
                yield from self._compose_chat()
        yield Footer(show_command_palette=False)

    def _compose_continue(self) -> ComposeResult:
        with Horizontal(classes="row model-row"):
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
        yield Input(placeholder="Enter, then type a prompt; Enter again generates", id="prompt",
                    value="Every effort moves you")
        yield Static("Temperature 0 always picks the likeliest token; higher is more adventurous. Top-k 0 "
                     "keeps every token.", id="gen-status", classes="status")
        with VerticalScroll(id="output-box", classes="out-box"):
            yield Static("", id="output")

    def _compose_classify(self) -> ComposeResult:
        with Horizontal(classes="row model-row"):
            yield Label("Classifier ", classes="muted")
            options = self._classifier_options()
            yield Select(options, prompt=NO_CLASSIFIER, value=options[0][1] if options else Select.NULL,
                         compact=True, id="classifier")
            yield Button("Classify", id="classify-go", variant="primary", compact=True)
        yield Input(placeholder="Enter, then type a message, e.g. You won a free cruise! Reply YES", id="message")
        yield Static("Your classifier says spam or not spam, with the probability it gives to spam.",
                     id="classify-status", classes="status")
        with VerticalScroll(id="history-box", classes="out-box"):
            yield Static("", id="history")

    def _compose_chat(self) -> ComposeResult:
        with Horizontal(classes="row model-row"):
            yield Label("Model ", classes="muted")
            options = self._chat_options()
            yield Select(options, prompt=NO_CHAT_MODEL, value=options[0][1] if options else Select.NULL,
                         compact=True, id="chat-model")
            yield Label("  Tokens ", classes="muted")
            yield Input("", placeholder="auto", type="integer", compact=True, id="chat-tokens")
            yield Button("Ask", id="ask", variant="primary", compact=True)
            yield Button("Stop", id="chat-stop", variant="error", compact=True, disabled=True)
        yield Input(placeholder="Enter, then type an instruction, e.g. Rewrite the sentence in the passive voice.",
                    id="instruction")
        yield Input(placeholder="Its input, if it has one (optional), e.g. The cat chased the mouse.",
                    compact=True, id="chat-input")
        yield Static(NO_MEMORY, id="chat-status", classes="status")
        with VerticalScroll(id="transcript-box", classes="out-box"):
            yield Static("", id="transcript")

    # -- what there is to use ---------------------------------------------------------------------------------
    def _model_options(self) -> list[tuple[str, str]]:
        root = self.app.workspace.root
        options = [(f"yours: {shown_path(p, root)}", str(p)) for p in find_checkpoints(self.app.workspace.runs_dir)]
        options += [(f"{name} (OpenAI's weights)", name) for name in configs.gpt2_weights_available()]
        return options

    def _classifier_options(self) -> list[tuple[str, str]]:
        runs = self.app.workspace.runs_dir
        return [(classifier_label(p, runs), str(p)) for p in find_classifiers(runs)]

    def _chat_options(self) -> list[tuple[str, str]]:
        runs = self.app.workspace.runs_dir
        return [(instruct_label(p, runs), str(p)) for p in find_instruct_runs(runs)]

    def on_mount(self) -> None:
        self.query_one("#pg-mode", RadioSet).can_focus = False  # clicks and m switch modes; Tab skips it
        self._show_history()
        self._show_transcript()

    def on_screen_resume(self) -> None:
        # A run may have saved a checkpoint or a classifier since this screen was built.
        for select_id, options in (("#weights", self._model_options()), ("#classifier", self._classifier_options()),
                                   ("#chat-model", self._chat_options())):
            select = self.query_one(select_id, Select)
            current = select.value
            select.set_options(options)
            if any(v == current for _, v in options):
                select.value = current
            elif options:
                select.value = options[0][1]
        self._show_history()
        self._show_transcript()
        if isinstance(self.focused, Input):  # back from another mode: the keys are the learner's again
            self.set_focus(None)

    # -- modes and focus --------------------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return self.query_one("#panes", ContentSwitcher).current or "continue"

    @on(RadioSet.Changed, "#pg-mode")
    def _mode_chosen(self, event: RadioSet.Changed) -> None:
        self.query_one("#panes", ContentSwitcher).current = MODES[event.index][0]
        if isinstance(self.focused, Input):
            self.set_focus(None)

    def action_next_mode(self) -> None:
        names = [m for m, _ in MODES]
        following = names[(names.index(self.mode) + 1) % len(names)]
        self.query_one("#panes", ContentSwitcher).current = following  # now: a second m must see it
        self.query_one(f"#mode-{following}", RadioButton).value = True

    def action_focus_field(self) -> None:
        self.query_one(FIELDS[self.mode], Input).focus()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action in ("focus_field", "next_mode") and isinstance(self.focused, Input):
            return False  # typing: Enter and m belong to the field
        return True

    # -- starting and following a child run -------------------------------------------------------------------
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

    def action_generate(self) -> None:
        {"continue": self._generate, "classify": self._classify, "chat": self._ask}[self.mode]()

    def _start(self, mode: str, argv: list[str]) -> None:
        self.run, self.run_mode = ChildRun(argv, cwd=self.app.workspace.root), mode
        self.app.child_runs.add(self.run)
        self._set_running(True)
        self._follow(self.run)

    def _busy(self) -> bool:
        if self.running:
            self.notify("Still running; Esc stops it.")
        return self.running

    @on(Input.Submitted, "#prompt")
    @on(Button.Pressed, "#generate")
    def _generate(self) -> None:
        if self._busy():
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
        self.prompt_text, self.generated = prompt, ""
        self._show_output()
        self._set_status("continue", f"Loading {Path(weights).name}…")
        self._start("continue", argv)

    @on(Input.Submitted, "#message")
    @on(Button.Pressed, "#classify-go")
    def _classify(self) -> None:
        if self._busy():
            return
        message = self.query_one("#message", Input).value
        if not message.strip():
            self.notify("Type a message first.", severity="warning")
            return
        select = self.query_one("#classifier", Select)
        if select.is_blank():
            self.notify("There is no classifier yet: train one in Train (3): run classify (or `tutor run "
                        "classify` in a terminal), then pick it here.", severity="warning")
            return
        argv = self.app.launcher.classify_text(self.app.workspace.root, model=str(select.value), text=message)
        self.query_one("#message", Input).value = ""
        self._set_status("classify", "Classifying… (the first message loads the model: a few seconds)")
        self._start("classify", argv)

    @on(Input.Submitted, "#instruction")
    @on(Input.Submitted, "#chat-input")
    @on(Button.Pressed, "#ask")
    def _ask(self) -> None:
        if self._busy():
            return
        instruction = self.query_one("#instruction", Input).value.strip()
        input_text = self.query_one("#chat-input", Input).value.strip()
        if not instruction:
            self.notify("Type an instruction first (the input below it is optional).", severity="warning")
            self.query_one("#instruction", Input).focus()
            return
        select = self.query_one("#chat-model", Select)
        if select.is_blank():
            self.notify("There is no instruction-tuned model yet: train one in Train (3): run instruct (or `tutor "
                        "run instruct` in a terminal), then pick it here.", severity="warning")
            return
        tokens = self._number("chat-tokens", int, None, 1) if self.query_one("#chat-tokens", Input).value else None
        argv = self.app.launcher.chat(self.app.workspace.root, model=str(select.value), instruction=instruction,
                                      input_text=input_text, response_tokens=tokens)
        self.turns.append(ChatTurn(instruction, input_text))
        self.query_one("#instruction", Input).value = ""
        self.query_one("#chat-input", Input).value = ""
        if self.focused is self.query_one("#chat-input"):
            self.query_one("#instruction", Input).focus()
        self._show_transcript()
        self._set_status("chat", "Loading the model…")
        self._start("chat", argv)

    def action_stop(self) -> None:
        if self.running:
            self.run.stop()
        else:
            self.set_focus(None)  # out of the field, so that 1-4, m and q work again

    @on(Button.Pressed, "#stop")
    @on(Button.Pressed, "#chat-stop")
    def _stop_pressed(self) -> None:
        self.action_stop()

    def _set_running(self, running: bool) -> None:
        for button_id in ("#generate", "#classify-go", "#ask"):
            self.query_one(button_id, Button).disabled = running
        for button_id in ("#stop", "#chat-stop"):
            self.query_one(button_id, Button).disabled = not running

    def _status_widget(self, mode: str) -> Static:
        return self.query_one({"continue": "#gen-status", "classify": "#classify-status",
                               "chat": "#chat-status"}[mode], Static)

    def _set_status(self, mode: str, text: str, error: bool = False) -> None:
        status = self._status_widget(mode)
        status.update(Content(text))  # a run's message is text, not markup
        status.set_class(error, "-error")

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
        mode = self.run_mode or "continue"
        if e.get("event") == "error":
            verb = {"continue": "generate", "classify": "classify", "chat": "answer"}[mode]
            self._set_status(mode, f"Could not {verb}: {e.get('message', '')}", error=True)
            if mode == "chat" and self.turns:
                self.turns[-1].state = "failed"
                self._show_transcript()
            return
        {"continue": self._continue_event, "classify": self._classify_event, "chat": self._chat_event}[mode](e)

    def _continue_event(self, e: dict) -> None:
        kind = e.get("event")
        if kind == "start":
            self._set_status("continue", "Generating…")
        elif kind == "token":
            self.generated += e.get("text", "")
            self._show_output()
        elif kind == "done":
            speed = speed_line(e)
            self._set_status("continue", f"Done. {speed}" if speed else "Done.")

    def _classify_event(self, e: dict) -> None:
        kind = e.get("event")
        if kind == "label":
            self.history.append(e)
            self._show_history()
        elif kind == "done":
            self._set_status("classify", "Done. Type another message (Enter), or pick another classifier.")

    def _chat_event(self, e: dict) -> None:
        kind = e.get("event")
        turn = self.turns[-1] if self.turns else None
        if turn is None:
            return
        if kind == "start":
            turn.state = "answering"
            self._set_status("chat", "Answering…")
        elif kind == "token":
            turn.answer += e.get("text", "")
        elif kind == "done":
            turn.answer = e.get("response", turn.answer.strip())
            turn.state = "done"
            speed = speed_line(e)
            self._set_status("chat", f"Done. {speed}. Each turn stands alone (no memory of earlier turns)." if speed
                             else "Done. Each turn stands alone (no memory of earlier turns).")
        self._show_transcript()

    @on(RunEnded)
    def _ended(self, message: RunEnded) -> None:
        self.app.child_runs.discard(self.run)
        self._set_running(False)
        mode = self.run_mode or "continue"
        if mode == "chat" and self.turns and self.turns[-1].state in ("waiting", "answering"):
            self.turns[-1].state = "stopped" if message.stopped else "failed"
            self._show_transcript()
        if message.stopped:
            self._set_status(mode, "Stopped.")
        elif message.returncode not in (0, None) and not self._status_widget(mode).has_class("-error"):
            tail = " ".join(message.stderr_tail.strip().splitlines()[-3:])
            self._set_status(mode, f"The run exited with status {message.returncode}. {tail}", error=True)

    # -- showing ----------------------------------------------------------------------------------------------
    def _show_output(self) -> None:
        self.query_one("#output", Static).update(Content.assemble(
            Content.styled(self.prompt_text, "$text-muted"), Content.styled(self.generated, "bold")))
        self.query_one("#output-box", VerticalScroll).scroll_end(animate=False)

    def _show_history(self) -> None:
        if not self.history:
            empty = self.query_one("#classifier", Select).is_blank()
            text = (f"No classifier yet: train one in Train (3): run classify, then come back. ({NO_CLASSIFIER})"
                    if empty else "Messages you classify appear here, newest first, with the spam probability.")
            self.query_one("#history", Static).update(Content.styled(text, "$text-muted"))
            return
        lines = []
        for e in reversed(self.history):
            p = e.get("spam_probability")
            spam = e.get("label") == "spam"
            badge = Content.styled(f" {'SPAM' if spam else 'not spam'} ", "bold reverse $error" if spam
                                   else "bold reverse $success")
            pct = f" {p:6.1%} spam  " if isinstance(p, (int, float)) else "  "
            lines.append(Content.assemble(badge, Content.styled(pct, "$text-muted"), e.get("text", "")))
        self.query_one("#history", Static).update(Content("\n").join(lines))

    def _show_transcript(self) -> None:
        if not self.turns:
            empty = self.query_one("#chat-model", Select).is_blank()
            text = ("No instruction-tuned model yet: train one in Train (3): run instruct, then come back."
                    if empty else "Your instructions and the model's answers appear here.")
            self.query_one("#transcript", Static).update(Content.styled(text, "$text-muted"))
            return
        blocks = []
        for turn in self.turns:
            parts = [Content.styled("You  ", "bold $text-accent"), turn.instruction]
            if turn.input:
                parts += ["\n", Content.styled("     input: ", "$text-muted"), turn.input]
            parts += ["\n", Content.styled("GPT  ", "bold $text-success")]
            if turn.answer:
                parts.append(turn.answer)
            note = {"waiting": "…", "answering": " …", "stopped": " (stopped)",
                    "failed": " (no answer)"}.get(turn.state)
            if turn.state == "done" and not turn.answer:
                note = "(an empty answer: the model stopped at once)"
            if note:
                parts.append(Content.styled(note, "$text-muted"))
            blocks.append(Content.assemble(*parts))
        self.query_one("#transcript", Static).update(Content("\n\n").join(blocks))
        self.query_one("#transcript-box", VerticalScroll).scroll_end(animate=False)

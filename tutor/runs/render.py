"""Showing run events in a terminal with rich: a live progress bar, one line per evaluation, samples.

The same events a run emits as JSON with `--events` (`tutor.runs.events`); this is the human rendering.
No torch here.
"""

from __future__ import annotations

from typing import Optional

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def _duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _loss(value) -> str:
    return "n/a" if value is None or value != value else f"{value:.3f}"


class ProgressConsole:
    """Base of the `emit`s that draw one live rich progress bar at a time: start it, print above it, stop it."""

    def __init__(self, console: Console):
        self.console = console
        self.progress: Optional[Progress] = None
        self.task = None

    def _start(self, description: str, *columns, total, completed: int = 0, **fields) -> None:
        """A transient bar of these columns (it disappears when stopped); `fields` feed `{task.fields[…]}`."""
        self.progress = Progress(*columns, console=self.console, transient=True)
        self.task = self.progress.add_task(description, total=total, completed=completed, **fields)
        self.progress.start()

    def _print(self, *args, **kwargs) -> None:
        (self.progress.console if self.progress else self.console).print(*args, **kwargs)

    def _stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


class _TrainingConsole(ProgressConsole):
    """What the training runs draw alike: the bar (epoch, steps, loss, speed, ETA), Ctrl-C's checkpoint, the way
    to resume. `rate` is the speed column's text, `{task.fields[rate]}` its number."""

    rate = "{task.fields[rate]} tok/s"

    def _start_training(self, ev: dict, notes=()) -> None:
        """The set-up's last lines (fused kernels, the loop, `notes`, the run folder), then the bar."""
        c = self.console
        if ev.get("fast"):
            c.print(f"[dim]{escape(ev['fast']['summary'])}[/]")
        c.print(f"[dim]{escape(ev['loop'])}.[/]")
        for note in notes:
            c.print(f"[yellow]Note:[/] {escape(note)}")
        c.print(f"[dim]Run folder: {escape(ev['out'])}   (Ctrl-C saves a checkpoint and stops)[/]")
        self._start("train", TextColumn("epoch {task.fields[epoch]}/{task.fields[epochs]}"), BarColumn(),
                    MofNCompleteColumn(), TextColumn("loss {task.fields[loss]}"), TextColumn(self.rate),
                    TimeElapsedColumn(), TextColumn("ETA {task.fields[eta]}"), total=ev["total_steps"],
                    completed=ev["start_step"], epoch=1, epochs=ev["epochs"], loss="…", rate="…", eta="?")

    def _advance(self, ev: dict, rate: str) -> None:
        self.progress.update(self.task, completed=ev["step"], epoch=ev["epoch"], loss=_loss(ev.get("loss")),
                             rate=rate, eta=_duration(ev["eta_s"]))

    def _checkpoint(self, ev: dict) -> None:
        if ev.get("reason") == "interrupt":
            self._print(f"[yellow]Stopped.[/] Checkpoint saved at step {ev.get('step')}: {escape(ev['path'])}")

    def _stopped(self, ev: dict) -> None:
        self.console.print(f"Stopped at step {ev['step']} of {ev['total_steps']}. Continue with:\n"
                           f"  [bold]{escape(ev['resume'] or '')}[/]")


class PretrainConsole(_TrainingConsole):
    """`emit` for `pretrain` that draws on a rich console."""

    verb = "Pretraining"

    def __call__(self, ev: dict) -> None:
        kind = ev["event"]
        if kind == "tokenize":  # a large corpus is tokenized once, before the run starts
            if self.progress is None:
                self._start("tokenize", TextColumn("Tokenizing"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                            TimeElapsedColumn(), total=ev["total_bytes"] or 1)
            self.progress.update(self.task, completed=ev["done_bytes"])
        elif kind == "streaming":
            self._stop()
            self.console.print(f"[yellow]Note:[/] {escape(ev['message'])}")
        elif kind == "start":
            c = self.console
            resumed = f", resuming at step {ev['start_step']}" if ev.get("resumed_from") else ""
            name = ev.get("name") or ev["config"]  # what --init loaded, else the preset
            c.print(f"[bold]{self.verb}[/] {escape(name)} ({ev['parameters'] / 1e6:.1f}M parameters) on "
                    f"{escape(ev['data_label'])}: {ev['tokens']:,} tokens, {ev['steps_per_epoch']} steps per epoch, "
                    f"{ev['total_steps']} steps in all, on {ev['device']}{resumed}.")
            c.print(escape(ev["assembly"]))
            if ev.get("schedule"):
                c.print(escape(ev["schedule"]))
                self.show_lr = "Learning rate" in ev["schedule"]
            self._start_training(ev, notes=ev.get("warnings", []))
        elif kind == "progress" and self.progress is not None:
            self._advance(ev, f"{ev['tokens_per_s']:,.0f}")
        elif kind == "eval":
            self._print(f"step {ev['step']:>6}  epoch {ev.get('epochs_seen', 0):5.2f}  "
                        f"train loss [bold]{_loss(ev['train_loss'])}[/]  val loss [bold]{_loss(ev['val_loss'])}[/]  "
                        f"({ev['tokens_seen']:,} tokens seen)"
                        + (f"  lr {ev['lr']:.2e}" if getattr(self, "show_lr", False) and ev.get("lr") else ""))
            if ev.get("init_check"):  # pretrain --init: the loaded weights' perplexity, before any training
                self._print(escape(ev["init_check"]["line"]))
                if ev["init_check"]["warning"]:
                    self._print(f"[yellow]Warning:[/] {escape(ev['init_check']['warning'])}")
        elif kind == "sample":
            self._print(f"  [dim]sample:[/] [italic]{escape(' '.join(ev['text'].split()))}[/]")
        elif kind == "checkpoint":
            self._checkpoint(ev)
        elif kind == "done":
            self._stop()
            c = self.console
            if ev.get("interrupted"):
                self._stopped(ev)
            else:
                c.print(f"[green]Done:[/] {ev['step']} steps. Final train loss [bold]{_loss(ev['train_loss'])}[/], "
                        f"val loss [bold]{_loss(ev['val_loss'])}[/]"
                        + (f", {ev['tokens_per_s']:,.0f} tokens/s." if ev.get("tokens_per_s") else "."))
            if ev.get("checkpoint"):
                c.print(f"  checkpoint  {escape(ev['checkpoint'])}")
            if ev.get("plot"):
                c.print(f"  loss plot   {escape(ev['plot'])}")
            c.print(f"  metrics     {escape(ev['metrics'])}")
            if ev.get("checkpoint") and not ev.get("interrupted"):
                c.print(f"Try it: [bold]tutor run generate --weights {escape(ev['checkpoint'])} "
                        f"--prompt \"...\"[/]")
        elif kind == "error":
            self._stop()


class GenerateConsole:
    """`emit` for `generate`: the prompt, then each token as it arrives."""

    def __init__(self, console: Console):
        self.console = console

    def __call__(self, ev: dict) -> None:
        kind = ev["event"]
        if kind == "start":
            self.console.print(f"[dim]{escape(ev['assembly'])}\nWeights: {escape(ev['weights'])}[/]",
                               highlight=False)
            for line in ev.get("notices", []):
                style = "yellow" if line.startswith("Warning") else "dim"
                self.console.print(f"[{style}]{escape(line)}[/]", highlight=False)
            self.console.print(f"[bold]{escape(ev['prompt'])}[/]", end="")
        elif kind == "token":
            self.console.print(escape(ev["text"]), end="", highlight=False)
            self.console.file.flush()
        elif kind == "done":
            self.console.print()
            if ev.get("stopped_at_end_of_text"):
                self.console.print("[dim](<|endoftext|>)[/]")
            if ev.get("tokens") and ev.get("tokens_per_s"):
                how = "cached" if ev.get("cached") else "no cache"
                self.console.print(f"[dim]{ev['tokens']:,} tokens in {ev['seconds']:.2f} s "
                                   f"({ev['tokens_per_s']:,.1f} tokens/s, {how})[/]", highlight=False)


def _lora_line(ev: dict) -> str:
    from tutor.runs.lora_wiring import describe

    lora = ev["lora"]
    return f"LoRA rank {lora['rank']}, alpha {lora['alpha']:g}: {describe(lora['trainable'], lora['parameters'])}"


def _pct(value) -> str:
    return "n/a" if value is None or value != value else f"{value:.1%}"


class ClassifyConsole(_TrainingConsole):
    """`emit` for `classify`: the set-up, a live progress bar, one line per evaluation, the accuracies."""

    rate = "{task.fields[rate]} msg/s"

    def __call__(self, ev: dict) -> None:
        kind = ev["event"]
        if kind == "start" and ev.get("run") == "classify-text":
            self.console.print(f"[dim]{escape(ev['assembly'])}\nClassifier: {escape(ev['model'])}[/]")
        elif kind == "start":
            c = self.console
            split = ev["split"]
            resumed = f", resuming at step {ev['start_step']}" if ev.get("resumed_from") else ""
            if ev.get("lora"):
                c.print(f"[bold]Fine-tuning a spam classifier[/] from {escape(ev['init'])} with {_lora_line(ev)} "
                        f"(the updates and the new head), classifying from the {ev['token']} token.")
            else:
                c.print(f"[bold]Fine-tuning a spam classifier[/] from {escape(ev['init'])}: {ev['trainable']:,} of "
                        f"{ev['parameters']:,} parameters train (--trainable {ev['trainable_setting']}), "
                        f"classifying from the {ev['token']} token.")
            c.print(f"Data: {escape(ev['data_label'])}, balanced: {split['train']} train / {split['validation']} "
                    f"validation / {split['test']} test messages, padded to {ev['max_length']} tokens. "
                    f"{ev['total_steps']} steps on {ev['device']}{resumed}.")
            c.print(escape(ev["assembly"]))
            self._start_training(ev)
        elif kind == "progress" and self.progress is not None:
            self._advance(ev, f"{ev['examples_per_s']:,.1f}")
        elif kind == "eval":
            self._print(f"step {ev['step']:>5}  epoch {ev.get('epochs_seen', 0):5.2f}  "
                        f"loss train {_loss(ev['train_loss'])} val {_loss(ev['val_loss'])}  "
                        f"accuracy train [bold]{_pct(ev['train_acc'])}[/] val [bold]{_pct(ev['val_acc'])}[/]")
        elif kind == "checkpoint":
            self._checkpoint(ev)
        elif kind == "label":
            self.console.print(f"[bold]{escape(ev['label'])}[/] (spam probability {ev['spam_probability']:.3f})  "
                               f"{escape(ev['text'])}")
        elif kind == "done" and "accuracy" in ev:
            self._stop()
            c = self.console
            if ev.get("interrupted"):
                self._stopped(ev)
            else:
                acc = ev["accuracy"]
                c.print(f"[green]Done:[/] accuracy train [bold]{_pct(acc.get('train'))}[/], validation "
                        f"[bold]{_pct(acc.get('validation'))}[/], test [bold]{_pct(acc.get('test'))}[/] "
                        f"({ev['step']} steps, {_duration(ev.get('train_time_s'))} of training).")
                cm = ev.get("confusion_matrix")
                if cm:
                    c.print(f"  test set: {cm['true_positives']} spam caught, {cm['false_negatives']} missed; "
                            f"{cm['false_positives']} normal messages flagged, {cm['true_negatives']} passed")
            if ev.get("classifier"):
                c.print(f"  classifier  {escape(ev['classifier'])}")
            for p in ev.get("plots", []):
                c.print(f"  plot        {escape(p)}")
            c.print(f"  metrics     {escape(ev['metrics'])}")
            if ev.get("classifier"):
                c.print(f"Try it: [bold]tutor run classify --model {escape(ev['out'])} --text \"...\"[/]")
        elif kind == "error":
            self._stop()


class InstructConsole(PretrainConsole):
    """`emit` for `instruct`: pretrain's progress, then the test responses beside the reference answers."""

    verb = "Fine-tuning"

    def __init__(self, console: Console):
        super().__init__(console)
        self.responses: list[dict] = []

    def __call__(self, ev: dict) -> None:
        kind = ev["event"]
        if kind == "start":
            split = f"{ev['train']} training, {ev['test']} test and {ev['validation']} validation entries"
            masked = "; prompt tokens masked from the loss" if ev.get("mask_prompt") else ""
            self.console.print(f"[dim]Weights: {escape(ev['init'])}. Data: {split}{masked}.[/]")
            if ev.get("lora"):
                self.console.print(_lora_line(ev))
        if kind == "response":
            if not self.responses:
                self._stop()
                self.console.print(f"Answering the {ev['total']} test entries…")
            self.responses.append(ev)
            return
        if kind == "done" and not ev.get("interrupted"):
            self._stop()
            self._show_responses(ev.get("shown", 3))
            if ev.get("responses"):
                self.console.print(f"  responses   {escape(ev['responses'])}")
            super().__call__({**ev, "checkpoint": None, "plot": None})
            if ev.get("checkpoint"):
                self.console.print(f"  checkpoint  {escape(ev['checkpoint'])}")
            if ev.get("responses"):
                self.console.print(f"Judge them: [bold]tutor run judge {escape(ev['responses'])}[/]")
            return
        super().__call__(ev)

    def _show_responses(self, n: int) -> None:
        from rich.table import Table

        if not self.responses:
            return
        table = Table(title=f"{min(n, len(self.responses))} of {len(self.responses)} test responses",
                      show_lines=True, expand=True)
        for name in ("Instruction", "Reference", "Your model"):
            table.add_column(name, ratio=1, overflow="fold")
        for r in self.responses[:n]:
            prompt = r["instruction"] + (f"\n\n{r['input']}" if r.get("input") else "")
            table.add_row(escape(prompt), escape(r["output"]), escape(r["model_response"] or "(nothing)"))
        self.console.print(table)

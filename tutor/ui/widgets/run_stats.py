"""One line of numbers about a running job: step, throughput, time left, latest losses."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static


def format_eta(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return "–"
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def format_rate(tokens_per_s: float | None) -> str:
    if tokens_per_s is None:
        return "–"
    return f"{tokens_per_s / 1000:.1f}k" if tokens_per_s >= 1000 else f"{tokens_per_s:.0f}"


class RunStats(Static):
    DEFAULT_CSS = """
    RunStats { height: auto; padding: 0 1; }
    """

    def __init__(self, **kwargs):
        super().__init__("", **kwargs)
        self.values: dict[str, object] = {}

    def clear(self) -> None:
        self.values = {}
        self.update("")

    def show(self, **values) -> None:
        self.values.update({k: v for k, v in values.items() if v is not None})
        v = self.values
        parts: list[Content | str] = []

        def add(label: str, text: str) -> None:
            if parts:
                parts.append(Content.styled(" · ", "$text-muted"))
            parts.extend([Content.styled(label + " ", "$text-muted"), Content.styled(text, "bold")])

        if "step" in v:
            total = v.get("total_steps")
            add("step", f"{v['step']}/{total}" if total else str(v["step"]))
        if "epoch" in v:
            add("epoch", str(v["epoch"]))
        if "examples_per_s" in v:  # classification counts messages, not tokens
            add("examples/s", format_rate(v["examples_per_s"]))
        elif "tokens_per_s" in v:
            add("tokens/s", format_rate(v["tokens_per_s"]))
        if "eta_s" in v:
            add("ETA", format_eta(v["eta_s"]))
        if "train_loss" in v:
            add("train", f"{v['train_loss']:.3f}")
        if "val_loss" in v:
            add("val", f"{v['val_loss']:.3f}")
        if "train_acc" in v:
            add("train acc", f"{100 * v['train_acc']:.1f}%")
        if "val_acc" in v:
            add("val acc", f"{100 * v['val_acc']:.1f}%")
        self.update(Content.assemble(*parts))

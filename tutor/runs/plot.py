"""The loss plot of a pretraining run: training and validation loss against epochs (bottom axis) and
tokens seen (top axis), as in the course; with a learning-rate schedule, the learning rate on a second y axis
(right). Uses matplotlib's object API with the Agg canvas, so it needs no
display and leaves pyplot's global state alone.
"""

from __future__ import annotations

import os
from pathlib import Path


def lr_changes(lrs) -> bool:
    """Whether a run's recorded learning rates (one per evaluation) are worth an axis: they vary."""
    values = [v for v in (lrs or []) if v is not None]
    return len(values) > 1 and max(values) - min(values) > 1e-9 * max(abs(v) for v in values)


def plot_losses(path: Path, epochs_seen: list[float], tokens_seen: list[int], train_losses: list[float],
                val_losses: list[float], title: str = "", lrs: list[float] | None = None) -> Path:
    """Write a PNG of the loss curves to `path` (atomically) and return it.

    `lrs`, one learning rate per evaluation, is drawn on a right-hand axis when it changes during the run.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FormatStrFormatter

    fig = Figure(figsize=(6.4, 4.0), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(epochs_seen, train_losses, marker="." if len(epochs_seen) < 30 else None, label="Training loss")
    ax.plot(epochs_seen, val_losses, linestyle="-.", marker="." if len(epochs_seen) < 30 else None,
            label="Validation loss")
    ax.set_xlabel("Epochs")
    ax.set_ylabel("Loss")
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if lr_changes(lrs):
        right = ax.twinx()
        right.plot(epochs_seen, lrs, color="tab:green", linestyle=":", label="Learning rate")
        right.set_ylabel("Learning rate")
        right.yaxis.set_major_formatter(FormatStrFormatter("%.1e"))  # no offset text to collide with the top axis
        h, lab = right.get_legend_handles_labels()
        handles, labels = handles + h, labels + lab
    ax.legend(handles, labels, loc="upper right")
    top = ax.twiny()  # a second x axis: the same points, placed by tokens seen
    top.plot(tokens_seen, train_losses, alpha=0)
    top.set_xlabel("Tokens seen")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fig.savefig(tmp, format="png")
    os.replace(tmp, path)
    return path


def plot_curves(path: Path, epochs_seen: list[float], series: dict[str, list[float]], *, ylabel: str,
                title: str = "") -> Path:
    """Write a PNG of several curves against epochs (e.g. training and validation accuracy) and return it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.0), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for i, (label, values) in enumerate(series.items()):
        ax.plot(epochs_seen, values, linestyle="-" if i == 0 else "-.",
                marker="." if len(epochs_seen) < 30 else None, label=label)
    ax.set_xlabel("Epochs")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fig.savefig(tmp, format="png")
    os.replace(tmp, path)
    return path

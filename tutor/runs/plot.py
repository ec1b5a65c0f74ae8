"""The loss plot of a pretraining run: training and validation loss against epochs (bottom axis) and
tokens seen (top axis), as in the course. Uses matplotlib's object API with the Agg canvas, so it needs no
display and leaves pyplot's global state alone.
"""

from __future__ import annotations

import os
from pathlib import Path


def plot_losses(path: Path, epochs_seen: list[float], tokens_seen: list[int], train_losses: list[float],
                val_losses: list[float], title: str = "") -> Path:
    """Write a PNG of the loss curves to `path` (atomically) and return it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.0), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(epochs_seen, train_losses, marker="." if len(epochs_seen) < 30 else None, label="Training loss")
    ax.plot(epochs_seen, val_losses, linestyle="-.", marker="." if len(epochs_seen) < 30 else None,
            label="Validation loss")
    ax.set_xlabel("Epochs")
    ax.set_ylabel("Loss")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right")
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

"""What the TUI's pickers offer from the learner's earlier runs in `.tutor/runs/`, and how they label it.

Finding the files is `tutor.runs.registry`'s (`model_checkpoints`, `run_folders`, `responses_files`: file names,
mtimes and metrics.json, newest first); this module only says which of them each Playground mode offers and
turns a run into the line its picker shows. No torch (a checkpoint is never opened here), no Textual.
"""

from __future__ import annotations

from pathlib import Path

from tutor.runs.registry import CHECKPOINT_FILE, CLASSIFIER_FILE, model_checkpoints, read_metrics, run_folders


def find_checkpoints(runs_dir: Path) -> list[Path]:
    """The continue mode's weights: every .pt/.pth of a whole GPT below `runs_dir`, newest first (a classifier's
    are left out: its 2-way head does not continue text)."""
    return model_checkpoints(runs_dir, anywhere=True)


def find_classifiers(runs_dir: Path) -> list[Path]:
    """The classify mode's models: run folders of finished `tutor run classify` runs (they hold classifier.pt)."""
    return run_folders(runs_dir, CLASSIFIER_FILE)


def find_instruct_runs(runs_dir: Path) -> list[Path]:
    """The chat mode's models: run folders of `tutor run instruct` that hold a checkpoint."""
    return run_folders(runs_dir, CHECKPOINT_FILE, kind="instruct")


def shown_path(path: Path, root: Path) -> str:
    """`path` relative to the workspace when it is inside it."""
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def classifier_label(folder: Path, runs_dir: Path) -> str:
    """The run folder's name (under .tutor/runs/, where every run goes) and its test accuracy."""
    accuracy = read_metrics(folder).get("test_accuracy")
    extra = f" · test accuracy {accuracy:.0%}" if isinstance(accuracy, (int, float)) else ""
    return f"{shown_path(folder, runs_dir)}{extra}"


def instruct_label(folder: Path, runs_dir: Path) -> str:
    """The run folder's name, its val loss and, for a stopped run, the step it stopped at."""
    m = read_metrics(folder)
    extra = f" · val loss {m['val_loss']:.2f}" if isinstance(m.get("val_loss"), (int, float)) else ""
    if m.get("interrupted"):
        extra += f" · stopped at step {m.get('step')}"
    return f"{shown_path(folder, runs_dir)}{extra}"

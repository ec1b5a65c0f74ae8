"""What the learner's earlier runs left in `.tutor/runs/` that the Train screen offers as inputs: model
checkpoints to start classify or instruct from, and instruct's responses.json files to judge. Plain files, newest
first; no torch (a checkpoint is never opened here), no Textual."""

from __future__ import annotations

import json
from pathlib import Path

from tutor.runs.checkpoint import FILENAME as CHECKPOINT_FILE

RESPONSES_FILE = "responses.json"  # what `tutor run instruct` writes into its run folder


def _newest_first(paths) -> list[Path]:
    found = []
    for p in paths:
        try:
            found.append((p.stat().st_mtime, p))
        except OSError:  # removed while we looked
            continue
    return [p for _, p in sorted(found, key=lambda t: t[0], reverse=True)]


def _run_of(folder: Path) -> str:
    """The run that made `folder`: its metrics.json says so; else its default name (`classify-…`) does."""
    try:
        run = json.loads((folder / "metrics.json").read_text(encoding="utf-8")).get("run")
        if isinstance(run, str):
            return run
    except (OSError, ValueError, AttributeError):
        pass
    return folder.name.split("-", 1)[0]


def model_checkpoints(runs_dir: Path) -> list[Path]:
    """Checkpoints of a whole GPT (pretrain and instruct runs; not classify's, whose head has two outputs)."""
    if not runs_dir.is_dir():
        return []
    return _newest_first(p for p in runs_dir.glob(f"*/{CHECKPOINT_FILE}") if _run_of(p.parent) != "classify")


def responses_files(runs_dir: Path) -> list[Path]:
    """The responses.json of instruct runs, newest first."""
    if not runs_dir.is_dir():
        return []
    return _newest_first(p for p in runs_dir.glob(f"*/{RESPONSES_FILE}") if p.is_file())


def shown_path(path: Path, root: Path) -> str:
    """`path` relative to the workspace when it is inside it."""
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)

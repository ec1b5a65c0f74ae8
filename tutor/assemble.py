"""Which modules a run uses: the learner's for every exercise that passes, the reference's for the rest.

Part of runs: it reads progress to decide, and says which modules were filled in. The import hook that
makes the choice take effect is core (`tutor.exercise_imports`). No torch here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tutor import curriculum
from tutor.exercise_imports import reference_mapping


@dataclass(frozen=True)
class Assembly:
    mapping: dict[str, Path]
    learner: tuple[str, ...]  # exercise ids whose module is the learner's
    filled_in: tuple[str, ...]  # exercise ids filled in from the reference

    def describe(self) -> str:
        if not self.filled_in:
            return "Every module of this model is yours."
        if not self.learner:
            return "Using the reference solution for every module."
        return (f"Your modules: {', '.join(self.learner)}. Filled in from the reference (not passing yet): "
                f"{', '.join(self.filled_in)}.")


def assemble(workspace=None, use_reference: bool = False, only_passed: bool = True) -> Assembly:
    """Choose a file per module: the learner's where it passes (or all of theirs with only_passed=False)."""
    mapping = reference_mapping()
    learner, filled = [], []
    progress = None
    if workspace is not None and not use_reference and only_passed:
        from tutor.progress import ProgressStore

        progress = ProgressStore(workspace.state_dir).load()
    for ex in curriculum.load().exercises:
        mine = workspace.exercises_dir / ex.module if workspace is not None else None
        ok = (mine is not None and mine.is_file() and not use_reference
              and (progress is None or progress.get(ex.id).status == "passed"))
        if ok:
            mapping[ex.module_name] = mine
            learner.append(ex.id)
        else:
            filled.append(ex.id)
    return Assembly(mapping, tuple(learner), tuple(filled))

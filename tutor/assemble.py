"""Assembling the learner's GPT: which file each `exercises.X` module comes from, and the import hook.

A run (and the assembly check) uses the learner's module for every exercise that passes and the reference
for the rest, and says which were filled in. The same `ExercisesFinder` maps modules for the grader's
isolation (the exercise under test is the learner's, its siblings the reference's). No torch here.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

from tutor import curriculum, paths


class ExercisesFinder(importlib.abc.MetaPathFinder):
    """Resolves `exercises` and `exercises.<name>` to chosen files (the learner's or the reference's).

    Installed first on sys.meta_path, so it wins over a real `exercises/` folder on sys.path.
    """

    def __init__(self, mapping: dict[str, Path]):
        self.mapping = dict(mapping)

    def find_spec(self, fullname, path=None, target=None):
        if fullname == "exercises":
            spec = importlib.util.spec_from_loader("exercises", loader=None, is_package=True)
            spec.submodule_search_locations = []
            return spec
        if fullname.startswith("exercises."):
            file = self.mapping.get(fullname.split(".", 1)[1])
            return importlib.util.spec_from_file_location(fullname, file) if file else None
        return None


def install_exercises_mapping(mapping: dict[str, Path]) -> ExercisesFinder:
    """Make `import exercises.X` load `mapping[X]`; forget any `exercises` modules imported before."""
    for name in [m for m in sys.modules if m == "exercises" or m.startswith("exercises.")]:
        del sys.modules[name]
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, ExercisesFinder)]
    finder = ExercisesFinder(mapping)
    sys.meta_path.insert(0, finder)
    importlib.invalidate_caches()
    return finder


def reference_mapping() -> dict[str, Path]:
    return {p.stem: p for p in paths.solutions_dir().glob("*.py") if p.stem != "__init__"}


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

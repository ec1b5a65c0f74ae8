"""The `exercises.X` import hook: make `import exercises.<name>` load a chosen file, the learner's or the reference's.

Core, shared by the grader's isolation (the exercise under test is the learner's, its siblings the reference's),
the assembly check (all of the learner's files) and runs (which choose their files in `tutor.assemble`). It
only maps names to files: which file a run should use is not decided here. No torch, no UI.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from pathlib import Path

from tutor import paths


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


def installed_mapping() -> dict[str, Path] | None:
    """The mapping the hook installed last in this process, or None."""
    for finder in sys.meta_path:
        if isinstance(finder, ExercisesFinder):
            return dict(finder.mapping)
    return None


def reference_mapping() -> dict[str, Path]:
    """Every module name to the reference solution's file."""
    return {p.stem: p for p in paths.solutions_dir().glob("*.py") if p.stem != "__init__"}


def learner_mapping(exercises_dir: Path, only: set[str] | None = None) -> dict[str, Path]:
    """Every module name to the learner's file where `exercises_dir` holds one (and, given `only`, the name is
    in it), else to the reference's."""
    mapping = reference_mapping()
    for name in mapping:
        mine = Path(exercises_dir) / f"{name}.py"
        if mine.is_file() and (only is None or name in only):
            mapping[name] = mine
    return mapping

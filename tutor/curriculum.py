"""The course's table of contents, read from `curriculum.toml` and validated.

This is the only place that knows which exercises exist and in what order; everything else asks it.
No torch, no UI.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from tutor import paths

CURRICULUM_FILE = paths.PACKAGE_DIR / "curriculum.toml"
_EXERCISE_KEYS = {"id", "stage", "title", "lesson", "module", "check", "names", "hints"}


class CurriculumError(ValueError):
    """The curriculum file is inconsistent (unknown key, missing file, duplicate id...)."""


@dataclass(frozen=True)
class Exercise:
    id: str
    stage: str
    title: str
    lesson: str  # file name under lessons/
    module: str  # file name under exercises/ and solutions/
    check: str  # file name under tutor/checks/
    names: tuple[str, ...]
    hints: tuple[str, ...]
    number: int  # 1-based position in the course

    @property
    def module_name(self) -> str:
        return self.module.removesuffix(".py")

    @property
    def lesson_path(self) -> Path:
        return paths.lessons_dir() / self.lesson

    @property
    def stub_path(self) -> Path:
        return paths.stubs_dir() / self.module

    @property
    def solution_path(self) -> Path:
        return paths.solutions_dir() / self.module

    @property
    def check_path(self) -> Path:
        return paths.checks_dir() / self.check

    def lesson_link(self, anchor: str = "") -> str:
        """`lessons/04-self-attention.md#anchor`, the form messages and hints use."""
        if anchor and not anchor.startswith("#"):
            anchor = "#" + anchor
        return f"lessons/{self.lesson}{anchor}"


@dataclass(frozen=True)
class Curriculum:
    stages: tuple[str, ...]
    exercises: tuple[Exercise, ...]

    def get(self, exercise_id: str) -> Exercise:
        for ex in self.exercises:
            if ex.id == exercise_id:
                return ex
        known = ", ".join(e.id for e in self.exercises)
        raise KeyError(f"unknown exercise {exercise_id!r}; the exercises are: {known}")

    def ids(self) -> list[str]:
        return [e.id for e in self.exercises]

    def by_stage(self) -> dict[str, list[Exercise]]:
        out: dict[str, list[Exercise]] = {s: [] for s in self.stages}
        for ex in self.exercises:
            out[ex.stage].append(ex)
        return {s: exs for s, exs in out.items() if exs}

    def next_after(self, exercise_id: str) -> Exercise | None:
        ids = self.ids()
        i = ids.index(exercise_id)
        return self.exercises[i + 1] if i + 1 < len(ids) else None


def parse_curriculum(text: str, check_files: bool = True, skip_incomplete: bool = False) -> Curriculum:
    """Parse and validate curriculum TOML text; raise CurriculumError with a precise reason."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise CurriculumError(f"curriculum.toml is not valid TOML: {e}") from e
    unknown_top = set(data) - {"stages", "exercise"}
    if unknown_top:
        raise CurriculumError(f"unknown top-level keys in curriculum.toml: {sorted(unknown_top)}")
    stages = tuple(data.get("stages", ()))
    exercises: list[Exercise] = []
    seen: set[str] = set()
    for n, raw in enumerate(data.get("exercise", []), start=1):
        where = f"exercise #{n} ({raw.get('id', '?')})"
        unknown = set(raw) - _EXERCISE_KEYS
        if unknown:
            raise CurriculumError(f"{where}: unknown keys {sorted(unknown)}")
        missing = _EXERCISE_KEYS - set(raw)
        if missing:
            raise CurriculumError(f"{where}: missing keys {sorted(missing)}")
        if raw["id"] in seen:
            raise CurriculumError(f"{where}: duplicate id {raw['id']!r}")
        seen.add(raw["id"])
        if raw["stage"] not in stages:
            raise CurriculumError(f"{where}: stage {raw['stage']!r} is not one of {list(stages)}")
        if not 2 <= len(raw["hints"]) <= 3 and check_files and not skip_incomplete:
            raise CurriculumError(f"{where}: needs 2 or 3 hints, has {len(raw['hints'])}")
        ex = Exercise(
            id=raw["id"],
            stage=raw["stage"],
            title=raw["title"],
            lesson=raw["lesson"],
            module=raw["module"],
            check=raw["check"],
            names=tuple(raw["names"]),
            hints=tuple(raw["hints"]),
            number=n,
        )
        if skip_incomplete and not all(
            p.is_file() for p in (ex.lesson_path, ex.stub_path, ex.solution_path, ex.check_path)
        ):
            continue
        if check_files:
            for label, p in [
                ("lesson", ex.lesson_path),
                ("stub", ex.stub_path),
                ("solution", ex.solution_path),
                ("check", ex.check_path),
            ]:
                if not p.is_file():
                    raise CurriculumError(f"{where}: {label} file {p} does not exist")
        exercises.append(ex)
    if not exercises:
        raise CurriculumError("curriculum.toml lists no exercises")
    return Curriculum(stages=stages, exercises=tuple(exercises))


@lru_cache(maxsize=1)
def load() -> Curriculum:
    """The course's curriculum (validated once per process)."""
    return parse_curriculum(CURRICULUM_FILE.read_text(encoding="utf-8"))

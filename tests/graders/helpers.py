"""Helpers for proving graders right: grade a source text as the learner's file for an exercise."""

from __future__ import annotations

import importlib
import tempfile
from pathlib import Path

from tutor import curriculum
from tutor.grading.results import ExerciseResult

_TMP = Path(tempfile.mkdtemp(prefix="tutor-grader-tests-"))
_counter = 0


def reference_source(exercise_id: str) -> str:
    return curriculum.load().get(exercise_id).solution_path.read_text(encoding="utf-8")


def stub_source(exercise_id: str) -> str:
    return curriculum.load().get(exercise_id).stub_path.read_text(encoding="utf-8")


def check_suite(exercise_id: str):
    ex = curriculum.load().get(exercise_id)
    return importlib.import_module(f"tutor.checks.{ex.check.removesuffix('.py')}").suite


def mistake_sources(exercise_id: str) -> list[tuple[str, str]]:
    """(key, source) for every declared mistake of the exercise's suite."""
    src = reference_source(exercise_id)
    return [(m.key, m.apply(src)) for m in check_suite(exercise_id).mistakes]


def grade_source(grader, exercise_id: str, source: str, timeout: float | None = None) -> ExerciseResult:
    """Write `source` as the learner's module (in its own folder, under the exercise's file name) and grade it."""
    global _counter
    _counter += 1
    folder = _TMP / f"{_counter:04d}" / "exercises"
    folder.mkdir(parents=True)
    f = folder / curriculum.load().get(exercise_id).module
    f.write_text(source, encoding="utf-8")
    return grader.grade_file(exercise_id, f, timeout=timeout)


def assert_fails_saying(grader, exercise_id: str, source: str, words, with_check_names: bool = False) -> None:
    """Grade a hand-written wrong answer: it must fail, and the learner must read each of `words`.

    `with_check_names` also searches the names of the failing checks (for mistakes a check's title names).
    """
    assert source != reference_source(exercise_id), "the mistake did not change the reference"
    r = grade_source(grader, exercise_id, source)
    assert r.status == "failed", r.summary()
    text = r.failure_text()
    if with_check_names:
        text += "\n" + "\n".join(c.name for c in r.checks if not c.passed)
    for w in [words] if isinstance(words, str) else words:
        assert w in text, r.summary()


def assert_passes(grader, exercise_id: str, source: str) -> None:
    """Grade a correct answer written another way than the reference: it must pass."""
    assert source != reference_source(exercise_id), "the alternative did not change the reference"
    r = grade_source(grader, exercise_id, source)
    assert r.status == "passed", r.summary()

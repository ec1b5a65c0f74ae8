"""For every exercise in the curriculum: the reference passes, the untouched stub is `not_started`,
and every declared known mistake fails with its own diagnosis.

The per-exercise files next to this one add hand-written wrong answers (and correct alternatives).
"""

import pytest

from tests.graders.helpers import grade_source, mistake_sources, reference_source, stub_source
from tutor import curriculum

EXERCISES = curriculum.load().ids()
MISTAKES = [(ex, key) for ex in EXERCISES for key, _ in mistake_sources(ex)]


@pytest.mark.parametrize("exercise", EXERCISES)
def test_reference_passes(grader, exercise):
    r = grade_source(grader, exercise, reference_source(exercise))
    assert r.status == "passed", r.summary()


@pytest.mark.parametrize("exercise", EXERCISES)
def test_stub_is_not_started(grader, exercise):
    r = grade_source(grader, exercise, stub_source(exercise))
    assert r.status == "not_started", r.summary()
    assert "NotImplementedError" in r.failure_text() and "exercises/" in r.failure_text(), r.summary()


@pytest.mark.parametrize("exercise, key", MISTAKES, ids=[f"{e}-{k}" for e, k in MISTAKES])
def test_declared_mistake_fails_with_its_diagnosis(grader, exercise, key):
    src = dict(mistake_sources(exercise))[key]
    assert src != reference_source(exercise)
    r = grade_source(grader, exercise, src)
    assert r.status == "failed", r.summary()
    assert r.diagnosed(key), r.summary()
    assert "This looks like a known mistake" in r.failure_text(), r.summary()

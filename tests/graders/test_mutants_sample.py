"""A fixed, seeded sample of the reference solutions' mutants (bench/grader_mutants.py): every mutant in it
is killed by the checks, or listed in equivalent_mutants.toml with a reason. The full run is the bench
script; this sample keeps the tool and the list honest in CI (well under a minute on 2 cores)."""

import importlib.util
import sys
from pathlib import Path

import pytest

from tutor import curriculum

_TOOL = Path(__file__).resolve().parents[2] / "bench" / "grader_mutants.py"
_spec = importlib.util.spec_from_file_location("grader_mutants", _TOOL)
mutants = importlib.util.module_from_spec(_spec)
sys.modules["grader_mutants"] = mutants  # dataclasses look their module up by name
_spec.loader.exec_module(mutants)

PER_EXERCISE, SEED = 3, 8
_MADE: dict = {}


def made(exercise_id):
    if exercise_id not in _MADE:
        _MADE[exercise_id] = mutants.make_mutants(exercise_id)
    return _MADE[exercise_id]


def test_every_exercise_has_mutants_of_every_common_kind():
    kinds = {m.kind.split(" ")[0] for ex in curriculum.load().ids() for m in made(ex)}
    assert {"operator", "comparison", "integer", "boolean", "drop", "swap", "call", "remove", "slice"} <= kinds, kinds
    assert any(k.startswith("dim=") for k in kinds), kinds


def test_mutant_ids_are_unique_and_ignore_comments():
    for ex in curriculum.load().ids():
        ids = [m.id for m in made(ex)]
        assert len(ids) == len(set(ids)), ex
        assert not any("#" in i.split(" -> ")[0] for i in ids), ex  # comments are not part of an id


def test_the_equivalent_list_is_well_formed():
    listed = mutants.load_equivalent()
    all_ids = {m.id for ex in curriculum.load().ids() for m in made(ex)}
    missing = sorted(set(listed) - all_ids)
    assert not missing, f"equivalent_mutants.toml lists mutants the tool no longer makes: {missing}"


def test_a_seeded_sample_of_mutants_is_killed_or_listed_as_equivalent(grader):
    sample = [m for ex in curriculum.load().ids()
              for m in mutants.sample(made(ex), PER_EXERCISE, SEED)]
    status = mutants.grade_mutants(sample, timeout=10, server_factory=lambda: grader)
    listed = mutants.load_equivalent()
    survivors = [m.id for m in sample if status[m.id] == "passed" and m.id not in listed]
    assert not survivors, "mutants no check kills (a gap, or list them as equivalent with a reason):\n" + \
        "\n".join(survivors)
    stale = [m.id for m in sample if m.id in listed and status[m.id] != "passed"]
    assert not stale, f"listed as equivalent but killed: {stale}"

"""Grading in spawn mode (a fresh process per exercise, as on Windows and macOS), forced here on Linux.

A representative set, since each spawned grade pays the torch import (~3 s): for every exercise the
reference passes, the untouched stub is `not_started`, and its first declared mistake fails with its
diagnosis, exactly as through the fork server. The hostile files of tests/test_grader_robustness.py run
through both modes; `TUTOR_GRADER=spawn python -m pytest tests/graders` runs every grader test this way.
"""

import pytest

from tests.graders.helpers import grade_source, mistake_sources, reference_source, stub_source
from tutor import curriculum
from tutor.grading.runner import GradingServer

EXERCISES = curriculum.load().ids()


def test_the_fixture_spawns(spawn_grader):
    assert spawn_grader.mode == "spawn" and spawn_grader._proc is None


@pytest.mark.parametrize("exercise", EXERCISES)
def test_reference_stub_and_a_mistake_get_the_same_verdicts(spawn_grader, exercise):
    r = grade_source(spawn_grader, exercise, reference_source(exercise))
    assert r.status == "passed", r.summary()
    r = grade_source(spawn_grader, exercise, stub_source(exercise))
    assert r.status == "not_started", r.summary()
    assert "NotImplementedError" in r.failure_text(), r.summary()
    mistakes = mistake_sources(exercise)
    if mistakes:
        key, src = mistakes[0]
        r = grade_source(spawn_grader, exercise, src)
        assert r.status == "failed" and r.diagnosed(key), r.summary()


def test_the_assembly_check_spawns_too(spawn_grader, tmp_path):
    from tutor.workspace import init_workspace

    ws = init_workspace(tmp_path / "ws")
    for ex in curriculum.load().exercises:
        ws.exercise_file(ex.id).write_text(reference_source(ex.id), encoding="utf-8")
    r = spawn_grader.grade_assembly(ws.root)
    assert r.status == "passed", r.summary()


@pytest.mark.parametrize("setting, mode", [("spawn", "spawn"), ("fork", "fork"), ("", "fork")])
def test_tutor_grader_forces_the_mode(monkeypatch, setting, mode):
    monkeypatch.setenv("TUTOR_GRADER", setting)
    server = GradingServer()
    assert server.mode == mode
    if mode == "spawn":  # said once, then not again
        assert "slower" in server.take_notice() and server.take_notice() is None
    else:
        assert server.notice is None


def test_spawn_is_chosen_where_fork_is_unsafe(monkeypatch):
    from tutor import portable

    monkeypatch.delenv("TUTOR_GRADER", raising=False)
    monkeypatch.setattr(portable, "MACOS", True)
    assert portable.grading_mode()[0] == "spawn"
    monkeypatch.setattr(portable, "MACOS", False)
    monkeypatch.setattr(portable, "WINDOWS", True)
    assert portable.grading_mode()[0] == "spawn"
    monkeypatch.setenv("TUTOR_GRADER", "fork")  # cannot be forced where there is no fork
    assert portable.grading_mode()[0] == "spawn"

"""Every lesson's python blocks run, and the output a lesson shows is what its code prints."""

from __future__ import annotations

import contextlib
import io
import math
import re
from pathlib import Path

import pytest

from tutor import curriculum, paths

FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```\s*$", re.S | re.M)
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def lesson_blocks(text: str) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(text)]


def outputs_match(expected: str, got: str) -> str | None:
    """None if `got` matches `expected` (whitespace-insensitive, numbers within tolerance)."""
    e_nums, g_nums = NUMBER.findall(expected), NUMBER.findall(got)
    e_text = " ".join(NUMBER.sub("#", expected).split())
    g_text = " ".join(NUMBER.sub("#", got).split())
    if e_text.replace(" ", "") != g_text.replace(" ", ""):
        return f"text differs:\n--- shown\n{expected}\n--- printed\n{got}"
    if len(e_nums) != len(g_nums):
        return f"number count differs:\n--- shown\n{expected}\n--- printed\n{got}"
    for a, b in zip(e_nums, g_nums):
        x, y = float(a), float(b)
        if not math.isclose(x, y, rel_tol=1e-3, abs_tol=1e-4):
            return f"number {a} shown, {b} printed:\n--- shown\n{expected}\n--- printed\n{got}"
    return None


def all_lessons() -> list[Path]:
    return sorted(paths.lessons_dir().glob("*.md"))


@pytest.fixture
def reference_exercises():
    from tutor.data.bpe import ensure_gpt2_bpe
    from tutor.exercise_imports import install_exercises_mapping, reference_mapping

    ensure_gpt2_bpe()
    install_exercises_mapping(reference_mapping())
    yield


@pytest.mark.parametrize("lesson", all_lessons(), ids=lambda p: p.stem)
def test_lesson_code_runs_and_output_matches(lesson, reference_exercises, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = lesson_blocks(lesson.read_text(encoding="utf-8"))
    namespace: dict = {"__name__": f"lesson_{lesson.stem.replace('-', '_')}"}
    last_output = None
    ran = 0
    for lang, code in blocks:
        if lang == "python":
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                exec(compile(code, f"{lesson.name}:block{ran}", "exec"), namespace)
            last_output = buf.getvalue()
            ran += 1
        elif lang == "output":
            assert last_output is not None, f"{lesson.name}: an output block with no python block before it"
            problem = outputs_match(code, last_output)
            assert problem is None, f"{lesson.name}, after python block {ran}: {problem}"
            last_output = None
    assert ran > 0, f"{lesson.name} has no python block"


def test_every_exercise_has_a_lesson_with_an_exercise_section():
    for ex in curriculum.load().exercises:
        text = ex.lesson_path.read_text(encoding="utf-8")
        assert "## The exercise" in text, f"{ex.lesson} lacks a '## The exercise' section"
        assert f"exercises/{ex.module}" in text, f"{ex.lesson} does not name exercises/{ex.module}"


def test_output_matching_is_strict():
    assert outputs_match("tensor([0.5000, 0.2500])", "tensor([0.5, 0.25])") is None
    assert outputs_match("tensor([0.5000, 0.2500])", "tensor([0.5, 0.26])") is not None
    assert outputs_match("shape (2, 3)", "shape (3, 2)") is not None
    assert outputs_match("a b", "a c") is not None


CODE_WIDTH = 88  # the lesson viewer shows about 90 columns at 100; longer code lines are cut there


@pytest.mark.parametrize("lesson", all_lessons(), ids=lambda p: p.name)
def test_code_lines_fit_the_lesson_viewer(lesson):
    long = [(n, line) for lang, block in lesson_blocks(lesson.read_text(encoding="utf-8")) if lang == "python"
            for n, line in enumerate(block.splitlines(), 1) if len(line) > CODE_WIDTH]
    assert not long, f"{len(long)} code lines over {CODE_WIDTH} characters, e.g. {long[0][1]!r}"


def test_every_stub_starts_with_the_same_header():
    for ex in curriculum.load().exercises:
        first_paragraph = " ".join(ex.stub_path.read_text(encoding="utf-8").split('"""')[1].split("\n\n")[0].split())
        pattern = rf"Exercise {ex.number}: .+ \(lesson: {re.escape(ex.lesson_link())}\)\."
        assert re.fullmatch(pattern, first_paragraph), f"{ex.module}: {first_paragraph!r}"

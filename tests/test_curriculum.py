"""The curriculum file is complete and consistent, and every lesson link anywhere points somewhere real."""

import importlib

import pytest

from tutor import curriculum, lessons, paths
from tutor.curriculum import CurriculumError, parse_curriculum

GOOD = '''
stages = ["Foundations"]
[[exercise]]
id = "tokenizer"
stage = "Foundations"
title = "t"
lesson = "01-tokenizer.md"
module = "tokenizer.py"
check = "check_tokenizer.py"
names = ["build_vocab"]
hints = ["a", "b"]
'''


def test_the_real_curriculum_is_strictly_valid():
    cur = parse_curriculum(curriculum.CURRICULUM_FILE.read_text(), check_files=True)
    assert cur.ids()[0] == "tokenizer"
    assert len(set(cur.ids())) == len(cur.ids())
    # Lessons are numbered in curriculum order.
    assert [e.lesson[:2] for e in cur.exercises] == [f"{i:02d}" for i in range(1, len(cur.exercises) + 1)]


def test_a_good_minimal_file_parses():
    assert parse_curriculum(GOOD).get("tokenizer").hints == ("a", "b")


@pytest.mark.parametrize("mutation, words", [
    (lambda s: s.replace('hints = ["a", "b"]', 'hints = ["a", "b"]\ncolour = "red"'), "unknown keys"),
    (lambda s: s + s.split("stages")[1].split("\n", 1)[1], "duplicate id"),
    (lambda s: s.replace('check = "check_tokenizer.py"', 'check = "check_nope.py"'), "does not exist"),
    (lambda s: s.replace('stage = "Foundations"', 'stage = "Elsewhere"'), "is not one of"),
    (lambda s: s.replace('hints = ["a", "b"]', 'hints = ["a"]'), "2 or 3 hints"),
    (lambda s: s.replace('names = ["build_vocab"]\n', ""), "missing keys"),
    (lambda s: s.replace("[[exercise]]", "[[exercise]\n"), "not valid TOML"),
])
def test_inconsistent_files_are_rejected_with_a_reason(mutation, words):
    with pytest.raises(CurriculumError, match=words):
        parse_curriculum(mutation(GOOD))


def test_every_exercise_has_two_or_three_hints_and_names():
    for ex in curriculum.load().exercises:
        assert 2 <= len(ex.hints) <= 3 and all(h.strip() and h != "TODO" for h in ex.hints), ex.id
        assert ex.names, ex.id


def test_every_lesson_link_in_hints_checks_and_lessons_exists():
    bad = []
    for ex in curriculum.load().exercises:
        for h in ex.hints:
            bad += [(ex.id, "hint", link) for link in lessons.broken_links(h)]
        suite = importlib.import_module(f"tutor.checks.{ex.check.removesuffix('.py')}").suite
        anchors = lessons.anchors(ex.lesson_path.read_text(encoding="utf-8"))
        for spec in suite.specs.values():
            if spec.lesson and spec.lesson.lstrip("#") not in anchors:
                bad.append((ex.id, spec.name, spec.lesson))
        for m in suite.mistakes:
            if m.lesson and m.lesson.lstrip("#") not in anchors:
                bad.append((ex.id, m.key, m.lesson))
    for lesson in paths.lessons_dir().glob("*.md"):
        bad += [(lesson.name, "text", link) for link in lessons.broken_links(lesson.read_text(encoding="utf-8"))]
    assert not bad, bad


def test_every_suite_has_checks_and_enough_mistakes():
    for ex in curriculum.load().exercises:
        suite = importlib.import_module(f"tutor.checks.{ex.check.removesuffix('.py')}").suite
        assert suite.exercise_id == ex.id
        assert len(suite.specs) >= 3, ex.id
        assert len(suite.mistakes) >= 5, ex.id


def test_stubs_and_solutions_define_the_same_public_names():
    import ast

    for ex in curriculum.load().exercises:
        def names(path):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}

        stub, sol = names(ex.stub_path), names(ex.solution_path)
        assert set(ex.names) <= stub and set(ex.names) <= sol, ex.id
        assert "NotImplementedError" in ex.stub_path.read_text(), ex.id


def test_slugs_follow_github_rules():
    assert lessons.slugify("Splitting heads") == "splitting-heads"
    assert lessons.slugify("Scaled dot-product attention (why √d_k?)") == "scaled-dot-product-attention-why-d_k"
    assert lessons.anchors("# A\n## B c\n```\n## not\n```\n## B c") == {"a", "b-c", "b-c-1"}

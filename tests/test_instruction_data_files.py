"""The built-in instruction and multiple-choice data: shape, size, variety; loaders fail clearly."""

import json

import pytest

from tutor.data.datasets import DataError, REMOTE_FILES
from tutor.data.instructions import check_instructions, load_instructions, load_mcq


def test_builtin_instructions_are_about_150_varied_entries():
    entries = load_instructions("builtin").entries
    assert 140 <= len(entries) <= 200
    assert all(e["instruction"].strip() and e["output"].strip() for e in entries)
    empty = sum(1 for e in entries if not e["input"])
    assert 20 <= empty <= len(entries) - 20, empty  # both kinds, so format_input's two cases are trained
    keys = [(e["instruction"], e["input"]) for e in entries]
    assert len(set(keys)) == len(keys), "duplicate examples"
    assert len({e["instruction"] for e in entries}) >= 90  # many different tasks, not one template


def test_builtin_mcq_has_four_choices_and_a_valid_answer():
    _, questions = load_mcq("builtin")
    assert 35 <= len(questions) <= 60
    assert all(sorted(q["choices"]) == ["A", "B", "C", "D"] and q["answer"] in "ABCD" for q in questions)
    assert len({q["subject"] for q in questions}) >= 4
    assert len({q["answer"] for q in questions}) == 4  # the right answer is not always in one place


def test_book_is_pinned_to_the_course_file():
    book = REMOTE_FILES["book"]
    assert book.filename == "instruction-data.json" and book.size == 203524
    assert book.sha256 == "7e09a9af353722ca15c18bc580f093f9c39d3178335a75177319cb1e1d163944"


def test_a_user_file_loads_and_a_missing_input_becomes_empty(tmp_path):
    f = tmp_path / "mine.json"
    f.write_text(json.dumps([{"instruction": "Say hi.", "output": "Hi."}]), encoding="utf-8")
    src = load_instructions(str(f))
    assert src.entries == [{"instruction": "Say hi.", "input": "", "output": "Hi."}]


@pytest.mark.parametrize("data, words", [
    ({"instruction": "x"}, "JSON list"),
    ([], "non-empty"),
    ([{"instruction": "x", "input": ""}], "entry 0 has no text for output"),
    ([{"instruction": "x", "output": "y"}, "text"], "entry 1 is a str"),
])
def test_bad_instruction_files_say_what_is_wrong(data, words):
    with pytest.raises(DataError, match=words):
        check_instructions(data, "mine.json")


def test_not_json_and_no_such_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[{", encoding="utf-8")
    with pytest.raises(DataError, match="not valid JSON"):
        load_instructions(str(bad))
    with pytest.raises(DataError, match="no such file"):
        load_instructions(str(tmp_path / "nope.json"))

"""The CLI as a learner uses it, through typer's CliRunner (fixed width so Rich does not wrap asserts)."""

import json
import shutil

import pytest
from typer.testing import CliRunner

from tutor import curriculum
from tutor.cli import app
from tutor.progress import ProgressStore

runner = CliRunner()


def invoke(*args, ws=None):
    env = {"COLUMNS": "200", "TERM": "dumb"}
    if ws is not None:
        args = (*args, "--workspace", str(ws))
    return runner.invoke(app, list(args), env=env)


@pytest.fixture
def ws(tmp_path):
    r = invoke("init", str(tmp_path / "ws"))
    assert r.exit_code == 0, r.output
    return tmp_path / "ws"


def test_init_creates_stubs_and_refuses_to_overwrite(ws):
    for ex in curriculum.load().exercises:
        assert (ws / "exercises" / ex.module).read_text() == ex.stub_path.read_text()
    assert (ws / ".tutor").is_dir()
    r = invoke("init", str(ws))
    assert r.exit_code == 2 and "refusing to overwrite" in r.output


def test_commands_without_a_workspace_say_how_to_make_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = invoke("status")
    assert r.exit_code == 2 and "tutor init" in r.output


def test_workspace_is_found_from_a_subfolder(ws, monkeypatch):
    monkeypatch.chdir(ws / "exercises")
    r = invoke("status")
    assert r.exit_code == 0 and "0 of" in r.output and "tokenizer" in r.output


def test_status_lists_every_exercise_and_the_next_step(ws):
    r = invoke("status", ws=ws)
    assert r.exit_code == 0
    for ex in curriculum.load().exercises:
        assert ex.id in r.output
    assert "Next: read lessons/01-tokenizer.md" in r.output


def test_hints_reveal_one_more_each_time_and_are_counted(ws):
    ex = curriculum.load().get("tokenizer")
    r1 = invoke("hint", "tokenizer", ws=ws)
    assert "Hint 1/" in r1.output and "Hint 2/" not in r1.output
    r2 = invoke("hint", "tokenizer", ws=ws)
    assert "Hint 2/" in r2.output
    assert ProgressStore(ws / ".tutor").load().get("tokenizer").hints_used == 2
    for _ in range(5):
        invoke("hint", "tokenizer", ws=ws)
    assert ProgressStore(ws / ".tutor").load().get("tokenizer").hints_used == len(ex.hints)


def test_unknown_exercise_is_a_usage_error(ws):
    r = invoke("hint", "nonsense", ws=ws)
    assert r.exit_code == 2 and "unknown exercise" in r.output


def test_solution_is_gated_until_passed_and_force_is_recorded(ws):
    r = invoke("solution", "tokenizer", ws=ws)
    assert r.exit_code == 1 and "has not passed yet" in r.output
    r = invoke("solution", "tokenizer", "--force", ws=ws)
    assert r.exit_code == 0 and "def build_vocab" in r.output
    p = ProgressStore(ws / ".tutor").load().get("tokenizer")
    assert p.solution_viewed and p.solution_forced


def test_reset_needs_confirmation_and_keeps_a_backup(ws):
    f = ws / "exercises" / "tokenizer.py"
    f.write_text("# my work\n")
    r = runner.invoke(app, ["reset", "tokenizer", "--workspace", str(ws)], input="n\n", env={"COLUMNS": "200"})
    assert f.read_text() == "# my work\n"
    r = invoke("reset", "tokenizer", "--yes", ws=ws)
    assert r.exit_code == 0
    assert f.read_text() == curriculum.load().get("tokenizer").stub_path.read_text()
    backups = list((ws / ".tutor" / "backups").glob("tokenizer-*.py"))
    assert len(backups) == 1 and backups[0].read_text() == "# my work\n"


def test_grade_json_contract_and_exit_codes(ws):
    r = invoke("grade", "tokenizer", "--json", ws=ws)
    assert r.exit_code == 1, r.output
    data = json.loads(r.stdout)
    assert set(data) == {"exercises", "passed", "total"} and (data["passed"], data["total"]) == (0, 1)
    ex = data["exercises"][0]
    assert set(ex) == {"id", "status", "checks", "duration_s"}
    assert ex["status"] == "not_started"
    assert all(set(c) == {"name", "passed", "message"} for c in ex["checks"])

    shutil.copy(curriculum.load().get("tokenizer").solution_path, ws / "exercises" / "tokenizer.py")
    r = invoke("grade", "tokenizer", "--json", ws=ws)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["exercises"][0]["status"] == "passed"
    p = ProgressStore(ws / ".tutor").load().get("tokenizer")
    assert p.attempts == 2 and p.passed_ever


def test_grade_report_shows_the_diagnosis(ws):
    src = curriculum.load().get("tokenizer").solution_path.read_text()
    (ws / "exercises" / "tokenizer.py").write_text(src.replace("return text", "return text  # x").replace(
        """return re.sub(r'\\s+([,.:;?!"()\\'])', r"\\1", text)""", "return text"))
    r = invoke("grade", "tokenizer", ws=ws)
    assert r.exit_code == 1
    assert "decode leaves a space in front of punctuation" in r.output
    assert "lessons/01-tokenizer.md#decoding" in r.output


def test_help_lists_the_commands():
    r = invoke("--help")
    assert r.exit_code == 0
    for cmd in ("init", "status", "hint", "grade", "watch", "solution", "reset"):
        assert cmd in r.output

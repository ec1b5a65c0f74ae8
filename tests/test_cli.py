"""The CLI as a learner uses it, through typer's CliRunner (fixed width so Rich does not wrap asserts)."""

import json
import shutil

import pytest
from typer.testing import CliRunner

from tutor import cli, curriculum
from tutor.cli import app
from tutor.runs import cli as runs_cli
from tutor.progress import ProgressStore

runner = CliRunner()


def invoke(*args, ws=None, width=200, input=None, env=None):
    """Run `tutor ARGS` with consoles `width` wide (Rich reads COLUMNS once, when the console is made)."""
    env = {"COLUMNS": str(width), "TERM": "dumb", "TUTOR_WORKSPACE": None, **(env or {})}
    if ws is not None:
        args = (*args, "--workspace", str(ws))
    consoles = [cli.console, cli.err, runs_cli.console, runs_cli.err]
    before = [c.width for c in consoles]
    for c in consoles:
        c.width = width
    try:
        return runner.invoke(app, list(args), env=env, input=input)
    finally:
        for c, w in zip(consoles, before):
            c.width = w


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
    r = invoke("reset", "tokenizer", ws=ws, input="n\n")
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
    assert p.attempts == 1 and p.passed_ever, "grading the untouched stub was not an attempt"


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


# -- issue 9: a newcomer's first hour ------------------------------------------------------------------------
def test_every_hint_title_and_mistake_description_prints_verbatim(ws):
    """Rich markup must not eat `[start:start + max_length]` or any other bracketed text of the course."""
    import io

    from rich.console import Console

    from tests.graders.helpers import check_suite
    from tutor.grading.report import print_result
    from tutor.grading.results import CheckResult, ExerciseResult

    course = curriculum.load()
    wide = 2000
    status = invoke("status", ws=ws, width=wide)
    for stage, exercises in course.by_stage().items():
        assert stage in status.output
        for ex in exercises:
            assert ex.title in status.output, ex.title
            for _ in ex.hints:
                r = invoke("hint", ex.id, ws=ws, width=wide)
            for hint_text in ex.hints:
                assert hint_text in r.output, f"{ex.id}: {hint_text!r} not in\n{r.output}"
            for m in check_suite(ex.id).mistakes:
                out = io.StringIO()
                check = CheckResult("a check [with brackets]", False, "expected [1, 2]", diagnosis=m.key,
                                    lesson=ex.lesson_link(), mistake=m.description)
                print_result(Console(file=out, width=wide, highlight=False),
                             ExerciseResult(ex.id, "failed", [check]))
                assert m.description in out.getvalue(), f"{ex.id}/{m.key}: {out.getvalue()}"
                assert "a check [with brackets]" in out.getvalue() and "expected [1, 2]" in out.getvalue()


def test_dataloader_hint_keeps_its_slice(ws):
    for _ in range(3):
        r = invoke("hint", "dataloader", ws=ws)
    assert "[start:start + max_length]" in r.output or "[start:start+max_length]" in r.output, r.output


def test_global_workspace_option_reaches_every_subcommand(ws, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # outside the workspace
    r = invoke("-w", str(ws), "status")
    assert r.exit_code == 0 and "tokenizer" in r.output, r.output
    r = invoke("--workspace", str(ws), "hint", "tokenizer")
    assert r.exit_code == 0 and "Hint 1/" in r.output, r.output
    monkeypatch.chdir(ws)  # inside a workspace, a wrong --workspace is an error, not ignored
    for args in (["--workspace", "/nonexistent", "status"], ["status", "--workspace", "/nonexistent"],
                 ["-w", "/nonexistent", "run", "generate", "--prompt", "x"]):
        r = invoke(*args)
        assert r.exit_code == 2 and "not a tutor workspace" in r.output, (args, r.output)


def test_lesson_links_in_messages_exist_in_the_workspace(ws):
    import re
    import stat

    r = invoke("status", ws=ws)
    links = re.findall(r"lessons/[\w.-]+\.md", r.output)
    assert links, r.output
    for link in links:
        assert (ws / link).is_file(), link
    for ex in curriculum.load().exercises:
        copy = ws / "lessons" / ex.lesson
        assert copy.read_bytes() == ex.lesson_path.read_bytes()
        assert not copy.stat().st_mode & stat.S_IWUSR, "the lessons are read-only copies"
    copy = ws / "lessons" / "01-tokenizer.md"
    copy.chmod(0o644)
    copy.write_text("stale\n")
    invoke("reset", "tokenizer", "--yes", ws=ws)
    assert copy.read_bytes() == curriculum.load().get("tokenizer").lesson_path.read_bytes(), "reset refreshes"
    copy.unlink()
    invoke("status", ws=ws)  # as after an upgrade of tutor: any command brings the lessons up to date
    assert copy.is_file()


def test_lesson_command_renders_markdown_and_pages_on_a_terminal(monkeypatch):
    ex = curriculum.load().get("tokenizer")
    heading = next(line.lstrip("# ").strip() for line in ex.lesson_path.read_text().splitlines()
                   if line.startswith("# "))
    r = invoke("lesson", "tokenizer")
    assert r.exit_code == 0 and heading in r.output and "```" not in r.output, r.output[:500]
    assert invoke("lesson", "nonsense").exit_code == 2

    import pydoc

    paged = []
    monkeypatch.setattr(pydoc, "pager", lambda text: paged.append(text))
    monkeypatch.setattr(type(cli.console), "is_terminal", property(lambda self: True))
    r = invoke("lesson", "tokenizer")
    assert r.exit_code == 0 and paged and heading in paged[0], "on a terminal the lesson goes through a pager"


def test_grade_assembled_mid_course_fills_in_from_the_reference(ws):
    course = curriculum.load()
    shutil.copy(course.get("tokenizer").solution_path, ws / "exercises" / "tokenizer.py")
    r = invoke("grade", "--assembled", ws=ws)
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output and "NotImplementedError" not in r.output, r.output
    assert f"1 of {len(course.exercises)} exercises pass" in r.output, r.output
    assert "Next to work on: dataloader" in r.output and "tutor grade assembled" not in r.output, r.output
    assert "Filled in from the reference" in r.output and "✔ assembled: passed" in r.output, r.output

    r = invoke("grade", "tokenizer", "--assembled", "--json", ws=ws)
    data = json.loads(r.stdout)
    assert (data["passed"], data["total"]) == (1, 1) and [e["id"] for e in data["exercises"]] == ["tokenizer"]
    assert data["assembly"]["status"] == "passed" and "gpt_model" in data["assembly"]["filled_in"]
    assert r.exit_code == 0

    r = invoke("grade", "tokenizer", "--assembled", "--only-mine", ws=ws)
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    assert "still raises NotImplementedError" in r.output and "exercises/" in r.output, r.output


def test_init_repairs_a_workspace_that_lost_its_state(ws, monkeypatch):
    mine = ws / "exercises" / "tokenizer.py"
    mine.write_text("# my work\n")
    (ws / "exercises" / "layers.py").unlink()
    shutil.rmtree(ws / ".tutor")
    monkeypatch.chdir(ws)
    r = invoke("status")
    assert r.exit_code == 2 and "`tutor init .` repairs it" in " ".join(r.output.split()), r.output
    r = invoke("init", ".")
    assert r.exit_code == 0 and "Repaired" in r.output and "layers" in r.output, r.output
    assert mine.read_text() == "# my work\n", "every file is kept"
    assert (ws / "exercises" / "layers.py").is_file(), "a missing stub is put back"
    assert invoke("status").exit_code == 0
    assert invoke("init", ".").exit_code == 2, "a healthy workspace is still not overwritten"


def test_progress_with_wrong_types_is_rebuilt_with_one_line(ws):
    invoke("hint", "tokenizer", ws=ws)
    state = ws / ".tutor" / "progress.json"
    data = json.loads(state.read_text())
    data["exercises"]["tokenizer"].update(status=5, attempts="x")
    state.write_text(json.dumps(data))
    r = invoke("status", ws=ws)
    assert r.exit_code == 0, r.output
    notes = [line for line in r.output.splitlines() if "events.jsonl" in line]
    assert len(notes) == 1 and "progress.json" in notes[0], r.output
    r = invoke("grade", "tokenizer", ws=ws)
    assert r.exit_code == 1 and "Traceback" not in r.output and "events.jsonl" not in r.output, r.output
    assert ProgressStore(ws / ".tutor").load().get("tokenizer").hints_used == 1, "rebuilt from the log"


def test_grading_unchanged_content_twice_is_one_attempt(ws):
    shutil.copy(curriculum.load().get("tokenizer").solution_path, ws / "exercises" / "tokenizer.py")
    for _ in range(2):
        invoke("grade", "tokenizer", "--json", ws=ws)
    assert ProgressStore(ws / ".tutor").load().get("tokenizer").attempts == 1


def test_solution_wraps_long_lines(ws):
    src = curriculum.load().get("tokenizer").solution_path.read_text()
    longest = max(src.splitlines(), key=len)
    width = 60
    assert len(longest) + 8 > width, "the test needs a line longer than the console"
    r = invoke("solution", "tokenizer", "--force", ws=ws, width=width)
    assert r.exit_code == 0
    assert all(len(line) <= width for line in r.output.splitlines()), "no line runs past the width"
    words = r.output.split()
    for word in longest.split():
        assert any(word in w or w in word for w in words), f"{word!r} of {longest!r} was cut off"


def test_help_shows_no_python_type_names():
    for args in (["--help"], ["grade", "--help"], ["status", "--help"], ["run", "pretrain", "--help"],
                 ["run", "generate", "--help"], ["watch", "--help"]):
        r = invoke(*args, width=120)
        assert r.exit_code == 0, (args, r.output)
        for bad in ("<bool>", "<str>", "<int>", "<float>", "<path>", "list[str]", "[[ID]...]"):
            assert bad not in r.output, (args, bad, r.output)
    assert "[ID]..." in invoke("grade", "--help").output


def test_status_words_are_the_shared_ones_and_a_regression_is_not_counted(ws):
    store = ProgressStore(ws / ".tutor")
    store.record_grade("tokenizer", "passed")
    store.record_grade("tokenizer", "not_started")  # e.g. reset and graded again
    store.record_grade("dataloader", "error")
    r = invoke("status", ws=ws)
    assert "not_started" not in r.output and "passed before, now" not in r.output, r.output
    assert "not started (passed before)" in r.output and "! error" in r.output, r.output
    assert f"0 of {len(curriculum.load().exercises)} exercises pass" in r.output


def test_readme_quickstart_installs_the_right_torch_before_tutor():
    from tutor import paths

    readme = (paths.content_root() / "README.md").read_text(encoding="utf-8")
    quick = readme[readme.index("## Quickstart"):readme.index("## Your daily loop")]
    assert quick.index("download.pytorch.org/whl/cpu") < quick.index("pip install -e"), "CPU torch comes first"
    assert "NVIDIA GPU" in quick, "says which line is for which machine"
    assert "--yes" in readme and "not on a terminal" in readme
    assert "about a minute" not in readme


def test_a_stale_tutor_workspace_variable_does_not_block_init(tmp_path):
    r = invoke("init", str(tmp_path / "fresh"), env={"TUTOR_WORKSPACE": str(tmp_path / "gone")})
    assert r.exit_code == 0, r.output
    r = invoke("status", env={"TUTOR_WORKSPACE": str(tmp_path / "gone")})
    assert r.exit_code == 2 and "not a tutor workspace" in r.output


@pytest.mark.parametrize("args", [("pretrain",), ("generate", "--prompt", "Hi"), ("instruct",),
                                  ("instruct", "--model", "RUN", "--instruction", "Hi"), ("mmlu",), ("classify",),
                                  ("classify", "--model", "RUN", "--text", "Hi")])
def test_runs_refuse_an_unknown_device_before_looking_for_a_workspace(args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no workspace here: the device is checked first
    r = invoke("run", *args, "--device", "tpu")
    assert r.exit_code == 2 and "Error: --device tpu: choose auto, cpu, cuda or mps." in r.output, r.output


@pytest.mark.parametrize("command", ["pretrain", "instruct"])
def test_runs_refuse_an_unknown_config_before_the_device(command, tmp_path, monkeypatch):
    from tutor.runs.configs import PRESETS

    monkeypatch.chdir(tmp_path)
    r = invoke("run", command, "--config", "huge", "--device", "tpu")
    assert r.exit_code == 2 and f"Error: --config huge: choose one of {', '.join(PRESETS)}." in r.output, r.output

"""The grader survives whatever a learner's file does, and never calls a broken or hostile file a pass.

Every hostile file is graded both ways: forked from the warm server (Linux) and in a fresh process per
exercise (spawn, as on Windows and macOS, forced here), with the same verdicts.
"""

import subprocess
import sys
import textwrap

import pytest

from tests.graders.helpers import grade_source, reference_source

EX = "tokenizer"
REF = reference_source(EX)
INFINITE_LOOP = REF.replace("def build_vocab(text):\n", "def build_vocab(text):\n    while True:\n        pass\n")


@pytest.fixture(params=["default", "spawn"])
def grader(request, grader):
    """The session's grader (fork on Linux, unless TUTOR_GRADER says otherwise), then a spawning one."""
    return grader if request.param == "default" else request.getfixturevalue("spawn_grader")


def test_infinite_loop_times_out(grader):
    r = grade_source(grader, EX, INFINITE_LOOP, timeout=4)
    assert r.status == "timeout", r.summary()
    assert "endless loop" in r.message, r.summary()


def test_grader_is_usable_after_a_timeout(grader):
    # Self-contained: the timeout happens here, on this grader, right before the grade that must still work.
    timed_out = grade_source(grader, EX, INFINITE_LOOP, timeout=3)
    assert timed_out.status == "timeout", timed_out.summary()
    r = grade_source(grader, EX, REF)
    assert r.status == "passed", r.summary()


def test_os_exit_at_import_is_not_a_pass(grader):
    r = grade_source(grader, EX, REF + "\nimport os\nos._exit(0)\n")
    assert r.status == "crashed", r.summary()
    assert "os._exit" in r.message, r.summary()


def test_sys_exit_at_import_is_an_error(grader):
    r = grade_source(grader, EX, REF + "\nimport sys\nsys.exit(0)\n")
    assert r.status == "error", r.summary()
    assert "sys.exit" in r.message, r.summary()


def test_keyboard_interrupt_at_import_is_an_error_not_a_crash(grader):
    r = grade_source(grader, EX, REF + "\nraise KeyboardInterrupt\n")
    assert r.status == "error", r.summary()
    assert "KeyboardInterrupt" in r.message and "out of memory" not in r.message, r.summary()
    assert "Traceback" not in r.message, r.summary()


def test_syntax_error_names_the_line(grader):
    lines = REF.splitlines()
    lines[9] = "def broken(:"
    r = grade_source(grader, EX, "\n".join(lines))
    assert r.status == "error", r.summary()
    assert "line 10" in r.message and "does not parse" in r.message, r.summary()


def test_missing_name_is_an_error(grader):
    r = grade_source(grader, EX, REF.replace("class SimpleTokenizerV2", "class SimpleTokenizer"))
    assert r.status == "error", r.summary()
    assert "SimpleTokenizerV2" in r.message, r.summary()


def test_segfault_is_crashed(grader):
    src = REF + "\nimport ctypes\nctypes.string_at(0)\n"
    r = grade_source(grader, EX, src)
    assert r.status == "crashed", r.summary()
    assert "SIGSEGV" in r.message, r.summary()


def test_flood_of_prints_is_graded_and_truncated(grader):
    # 50 MB of output while being imported; grading must go on normally.
    src = REF + "\nimport sys\nfor _ in range(50):\n    sys.stdout.write('x' * 1_000_000)\n"
    r = grade_source(grader, EX, src)
    assert r.status == "passed", r.summary()
    assert len(r.output) < 20_000 and "bytes of output left out" in r.output


def test_patching_torch_and_the_reference_does_not_pass_a_wrong_answer(grader):
    wrong = REF.replace("tokens.extend(SPECIAL_TOKENS)", "tokens.extend(reversed(SPECIAL_TOKENS))")
    hostile = wrong + textwrap.dedent('''
        import sys, torch
        torch.allclose = lambda *a, **k: True
        torch.isclose = lambda a, b, **k: torch.ones_like(a, dtype=torch.bool)
        for name, mod in list(sys.modules.items()):
            if name.startswith("_tutor_reference") or name.startswith("solutions"):
                mod.build_vocab = build_vocab
                mod.SimpleTokenizerV2 = SimpleTokenizerV2
            if name.startswith("tutor.grading.framework"):
                mod.compare_values = lambda *a, **k: None
    ''')
    r = grade_source(grader, EX, hostile)
    assert r.status == "failed", r.summary()
    assert r.diagnosed("specials-swapped"), r.summary()
    assert "changed" in r.failure_text() and "compare_values" in r.failure_text(), r.summary()


def test_zero_collected_checks_is_a_grader_error(tmp_path):
    # A suite with no checks must never count as a pass.
    learner = tmp_path / "tokenizer.py"
    learner.write_text(REF)
    script = textwrap.dedent(f'''
        import dataclasses, json
        from pathlib import Path
        from tutor import curriculum
        from tutor.grading import child
        cur = curriculum.load()
        ex = cur.get("tokenizer")
        fake = dataclasses.replace(ex, check="check_empty.py")
        type(fake).check_path = property(lambda self: Path({str(tmp_path / "check_empty.py")!r}))
        curriculum.load = lambda: dataclasses.replace(cur, exercises=(fake,))
        r = child.run_exercise("tokenizer", Path({str(learner)!r}))
        print(json.dumps({{"status": r.status, "message": r.message}}))
    ''')
    from pathlib import Path

    (tmp_path / "check_empty.py").write_text((Path(__file__).parent / "fixtures" / "check_empty.py").read_text())
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    import json

    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert data["status"] == "error", out.stdout + out.stderr
    assert "no checks ran" in data["message"], data


def test_memory_is_capped(grader):
    r = grade_source(grader, EX, REF + "\nhog = bytearray(16 * 1024**3)\n")
    assert r.status == "error", r.summary()
    assert "more memory" in r.message, r.summary()


def test_keyboard_interrupt_at_import_is_an_error_with_a_clear_message(grader):
    r = grade_source(grader, EX, REF + "\nraise KeyboardInterrupt\n")
    assert r.status == "error", r.summary()
    assert "KeyboardInterrupt while being imported" in r.message, r.summary()
    assert "Traceback" not in r.message and "out of memory" not in r.message, r.summary()


def test_keyboard_interrupt_inside_a_check_fails_that_check(grader):
    src = REF.replace("def build_vocab(text):\n", "def build_vocab(text):\n    raise KeyboardInterrupt\n")
    r = grade_source(grader, EX, src)
    assert r.status in ("failed", "error"), r.summary()
    assert "KeyboardInterrupt" in r.failure_text(), r.summary()
    assert "out of memory" not in r.failure_text(), r.summary()

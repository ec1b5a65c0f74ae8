"""What runs inside the grading child process: import mapping, reference first, then the learner, then pytest.

Order matters: the check module and the reference (and every known mistake) are loaded and
all expected values computed *before* the learner's module is imported; whatever the learner's module
changes in torch, the reference or the framework while it is imported is put back afterwards.
This module runs in a grading child (forked or spawned); it never touches the UI and never writes progress.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import os
import sys
import time
import traceback
import types
from pathlib import Path

from tutor import curriculum as curriculum_mod
from tutor import paths
from tutor.exercise_imports import install_exercises_mapping, reference_mapping
from tutor.grading.results import KNOWN_MISTAKE, CheckResult, ExerciseResult

PYTEST_INI = Path(__file__).with_name("pytest.ini")


# -- loading ------------------------------------------------------------------------------------------
def load_check_module(path: Path) -> types.ModuleType:
    """Import a check module by path, under the name pytest will look it up by (tutor.checks.<stem>)."""
    name = f"tutor.checks.{path.stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_module_from_source(name: str, source: str, filename: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__file__ = filename
    sys.modules[name] = module  # classes defined inside need their module registered
    exec(compile(source, filename, "exec"), module.__dict__)
    return module


# -- protecting what the learner must not change -----------------------------------------------------------
def _protected_objects(extra: list[object]) -> list[object]:
    import math

    import torch
    import torch.nn.functional as F
    import torch.utils.data

    from tutor.grading import framework

    objs: list[object] = [torch, torch.nn, F, torch.nn.init, torch.utils.data, math, framework, torch.Tensor,
                          torch.nn.Module, torch.nn.Parameter, torch.utils.data.Dataset, torch.utils.data.DataLoader]
    objs += [v for v in vars(torch.nn).values() if isinstance(v, type)]
    try:
        import tiktoken

        objs.append(tiktoken)
    except ImportError:
        pass
    return objs + extra


def _label(obj: object) -> str:
    return getattr(obj, "__qualname__", None) or getattr(obj, "__name__", repr(obj))


def snapshot(objs: list[object]) -> list[tuple[object, dict]]:
    return [(o, dict(vars(o))) for o in objs]


def restore(snap: list[tuple[object, dict]]) -> list[str]:
    """Undo changes made since `snapshot`; return what had been changed, as 'torch.allclose'."""
    changed = []
    for obj, before in snap:
        now = vars(obj)
        for key in set(now) | set(before):
            if key in before and key in now and now[key] is before[key]:
                continue
            if key.startswith("__") and key.endswith("__") and key not in ("__call__", "__eq__"):
                continue  # module bookkeeping (e.g. __warningregistry__)
            changed.append(f"{_label(obj)}.{key}")
            try:
                if key in before:
                    setattr(obj, key, before[key])
                else:
                    delattr(obj, key)
            except (AttributeError, TypeError):
                pass
    return changed


# -- the learner's code -------------------------------------------------------------------------------------
def _same_file(a: str, b: str) -> bool:
    """Paths compared as the OS does (case-insensitively on Windows)."""
    return os.path.normcase(os.path.abspath(a)) == os.path.normcase(os.path.abspath(b))


def learner_frame(tb, learner_file: str) -> str | None:
    """'exercises/self_attention.py line 40: attn = ...' for the deepest frame in the learner's file."""
    found = None
    for frame in traceback.extract_tb(tb):
        if _same_file(frame.filename, learner_file):
            found = frame
    if found is None:
        return None
    return f"exercises/{Path(learner_file).name} line {found.lineno} (in {found.name})"


def describe_exception(exc: BaseException, learner_file: str) -> tuple[str, bool]:
    """A message a learner can act on, and whether it is a not-implemented stub."""
    from tutor.grading.framework import CheckFailed, GraderError

    if isinstance(exc, CheckFailed):
        return exc.message, False
    if isinstance(exc, GraderError):
        return f"Grader error (a bug in tutor, not in your code): {exc}", False
    where = learner_frame(exc.__traceback__, learner_file)
    if isinstance(exc, NotImplementedError) and where:
        return f"Not implemented yet: {where} still raises NotImplementedError.", True
    if where:
        frame = [f for f in traceback.extract_tb(exc.__traceback__)
                 if _same_file(f.filename, learner_file)][-1]
        where += f":\n      {frame.line.strip()}" if frame.line else ""
    text = f"{type(exc).__name__}: {exc}".strip()
    if len(text) > 600:
        text = text[:600] + "…"
    if where:
        return f"Your code raised {text}\n  at {where}", False
    # Raised in torch or the checks, from something the learner's code returned or built.
    return f"Running this check raised {text}\n  (check the types and shapes your code returns)", False


def run_exercise(exercise_id: str, learner_file: Path) -> ExerciseResult:
    """Grade one exercise in this (child) process. Never raises."""
    start = time.perf_counter()
    cur = curriculum_mod.load()
    ex = cur.get(exercise_id)
    learner_file = learner_file.resolve()
    result = ExerciseResult(id=exercise_id, status="error")

    def done(status: str, message: str = "") -> ExerciseResult:
        result.status = status
        result.message = message
        result.duration_s = time.perf_counter() - start
        return result

    if not learner_file.is_file():
        return done("error", f"{learner_file} does not exist. Run `tutor reset {exercise_id}` to get the stub back.")

    # Checks run tiny tensors: one thread is fastest, and on a busy 2-core machine OpenMP hand-offs
    # between threads made each small op cost milliseconds.
    import torch

    torch.set_num_threads(1)

    # 1. Siblings are the reference's, so a mistake is reported once, where it lives.
    mapping = reference_mapping()
    mapping[ex.module_name] = learner_file
    install_exercises_mapping(mapping)
    if str(paths.content_root()) not in sys.path:
        sys.path.insert(0, str(paths.content_root()))

    # 2. The check module, the reference and the known mistakes, before any learner code.
    try:
        check_module = load_check_module(ex.check_path)
        suite = check_module.suite
        ref_source = ex.solution_path.read_text(encoding="utf-8")
        reference = load_module_from_source(f"_tutor_reference_{ex.module_name}", ref_source, str(ex.solution_path))
        mistakes = {}
        for m in suite.mistakes:
            mistakes[m.key] = load_module_from_source(
                f"_tutor_mistake_{ex.module_name}_{m.key.replace('-', '_')}", m.apply(ref_source),
                f"<mistake {m.key}>")
        # What the reference prints while expected values are computed is not the learner's output.
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            suite.prepare(reference, mistakes)
    except Exception:
        return done("error", "Grader error (a bug in tutor, not in your code):\n" + traceback.format_exc(limit=4))

    # 3. The learner's module, with everything protected put back afterwards.
    dep_modules = [m for n, m in sys.modules.items() if n.startswith("exercises.")]
    snap = snapshot(_protected_objects([reference, check_module, suite, *dep_modules]))
    try:
        learner = importlib.import_module(f"exercises.{ex.module_name}")
    except SyntaxError as e:
        restore(snap)
        return done("error", f"exercises/{ex.module} does not parse: {e.msg} at line {e.lineno}"
                    + (f":\n    {e.text.rstrip()}" if e.text else ""))
    except BaseException as e:  # noqa: BLE001 - SystemExit and friends at import are the learner's too
        restore(snap)
        msg, _ = describe_exception(e, str(learner_file))
        if isinstance(e, KeyboardInterrupt):  # the child has its own session: no Ctrl-C reaches it
            msg = (f"exercises/{ex.module} raised KeyboardInterrupt while being imported; remove that "
                   "`raise` (or whatever stops the program there).")
        if isinstance(e, MemoryError):
            msg = "it asked for more memory than grading allows (a few GB); is something far too large?"
        if isinstance(e, SystemExit):
            msg = f"exercises/{ex.module} called sys.exit() while being imported; remove that call."
        return done("error", f"exercises/{ex.module} could not be imported.\n{msg}")
    tampered = restore(snap)
    missing = [n for n in ex.names if not hasattr(learner, n)]
    if missing:
        return done("error", f"exercises/{ex.module} must define {', '.join(missing)} "
                    f"(the names the exercise states; see {ex.lesson_link()}).")

    # 4. The suite, through pytest.
    plugin = _Plugin(suite, learner, reference, str(learner_file), ex)
    import pytest

    # -s: the learner's prints go to our output pipe; no:terminal: pytest's own report is not wanted.
    args = ["-c", str(PYTEST_INI), "--rootdir", str(PYTEST_INI.parent), "-s", "-p", "no:terminal",
            str(ex.check_path)]
    try:
        code = pytest.main(args, plugins=[plugin])
    except Exception:
        return done("error", "Grader error (a bug in tutor, not in your code):\n" + traceback.format_exc(limit=4))
    result.checks = plugin.results
    if tampered:
        result.checks.append(CheckResult(
            name="Leaves torch and the reference alone",
            passed=False,
            message=("Importing your module changed " + ", ".join(sorted(tampered)[:5])
                     + ". tutor put them back; an exercise must not modify torch or the checks."),
        ))
    registered = len(suite.specs)
    ran = len(plugin.results)
    if ran == 0 or code in (pytest.ExitCode.NO_TESTS_COLLECTED, pytest.ExitCode.INTERNAL_ERROR,
                            pytest.ExitCode.USAGE_ERROR):
        return done("error", f"Grader error: no checks ran for {exercise_id} (pytest exit {int(code)}).")
    if ran < registered:
        return done("error", f"Grader error: only {ran} of {registered} checks ran for {exercise_id}.")
    if all(c.passed for c in result.checks):
        return done("passed")
    if not any(c.passed for c in result.checks) and all(c.not_implemented for c in result.checks):
        return done("not_started", f"Nothing is implemented yet in exercises/{ex.module}. "
                    f"Read {ex.lesson_link()}, then fill in the stub.")
    return done("failed")


class LearnerInterrupt(Exception):
    """A KeyboardInterrupt raised by the learner's code during a check."""

    def __str__(self) -> str:
        return "nothing pressed Ctrl-C, your code raised it; remove that `raise`"


LearnerInterrupt.__name__ = "KeyboardInterrupt"  # how messages name it (`Your code raised KeyboardInterrupt: …`)


class _Plugin:
    """Provides the fixtures and records each check's outcome as the learner will read it."""

    def __init__(self, suite, learner, reference, learner_file: str, ex):
        self.suite, self.learner_module, self.reference_module = suite, learner, reference
        self.learner_file, self.ex = learner_file, ex
        self.results: list[CheckResult] = []

    import pytest as _pytest

    @_pytest.fixture
    def learner(self):
        return self.learner_module

    @_pytest.fixture
    def reference(self):
        return self.reference_module

    @_pytest.hookimpl(wrapper=True)
    def pytest_pyfunc_call(self, pyfuncitem):
        # pytest lets KeyboardInterrupt end the session; here it can only come from the learner's code (the
        # child has its own session, so no Ctrl-C reaches it): make it that check's failure.
        try:
            return (yield)
        except KeyboardInterrupt as e:
            raise LearnerInterrupt().with_traceback(e.__traceback__) from None

    @_pytest.hookimpl(tryfirst=True)
    def pytest_runtest_makereport(self, item, call):
        # Our own small report: pytest's would format a full traceback per failure, which nobody reads
        # (the learner's message comes from describe_exception) and which costs ~0.2 s each.
        from _pytest.reports import TestReport

        failed = call.excinfo is not None
        if call.when == "call" or (call.when == "setup" and failed):
            name = item.name
            spec = self.suite.specs.get(name)
            title = spec.title if spec else name.removeprefix("check_").replace("_", " ")
            if not failed:
                self.results.append(CheckResult(name=title, passed=True, lesson=self._link(name, None)))
            else:
                exc = call.excinfo.value
                msg, not_impl = describe_exception(exc, self.learner_file)
                diag = getattr(exc, "diagnosis", None)
                known = next((m for m in self.suite.mistakes if m.key == diag), None)
                if known:  # the description becomes a field; the framework's own line about it goes
                    msg = msg.split(f"\n{KNOWN_MISTAKE}", 1)[0]
                self.results.append(CheckResult(name=title, passed=False, message=msg, diagnosis=diag,
                                                lesson=self._link(name, diag), not_implemented=not_impl,
                                                mistake=known.description if known else None))
        outcome = "failed" if failed else "passed"
        return TestReport(item.nodeid, item.location, {}, outcome, "failed" if failed else None, call.when,
                          duration=call.duration, start=call.start, stop=call.stop)

    def _link(self, name: str, diagnosis: str | None) -> str | None:
        anchor = self.suite.lesson_for(name, diagnosis)
        return self.ex.lesson_link(anchor) if anchor else None

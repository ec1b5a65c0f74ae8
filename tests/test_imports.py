"""Import hygiene, module by module: domain code never imports textual; nothing but the checks imports torch.

Every module of the package (globbed, so a new one is covered the day it is added) is imported in a fresh
process and `sys.modules` is inspected afterwards (as harlequin does), so a module that pulls in textual or
torch through any chain of imports is caught. POSIX-only modules are never imported at module level.
"""

import ast
import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tutor"
# The hidden check suites and the framework they are written in are torch code; they load in the grader only.
TORCH_MODULES = ("tutor.checks.", "tutor.grading.framework")
NOT_IMPORTABLE = {"tutor.__main__"}  # importing it starts the program
POSIX_ONLY = {"fcntl", "resource", "termios", "pwd", "grp"}


def _module_names() -> list[str]:
    names = []
    for file in sorted(PACKAGE.rglob("*.py")):
        parts = file.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if name not in NOT_IMPORTABLE:
            names.append(name)
    return names


MODULES = _module_names()
DOMAIN = [m for m in MODULES if not m.startswith("tutor.ui")]  # everything but the TUI: no textual
TORCH_FREE = [m for m in MODULES if not m.startswith(TORCH_MODULES)]  # the UI's first paint included: no torch


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr[-2000:]
    return set(out.stdout.split())


# One interpreter per group imports what that group may use anyway (never what is asserted absent), then forks
# a fresh child per module: the same answer as one interpreter per module, at a fraction of the cost.
_PROBE = """
import json, os, sys
for name in filter(None, sys.argv[1].split(",")):
    __import__(name)
results = {}
for name in sys.argv[2:]:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            __import__(name)
            payload = " ".join(sys.modules)
        except BaseException as e:
            payload = "!" + type(e).__name__ + ": " + str(e)
        os.write(w, payload.encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 1 << 20):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    results[name] = data.decode()
print(json.dumps(results))
"""
_GROUPS = (  # (preloaded, the modules probed after it)
    ("typer,rich.console,rich.markdown", [m for m in MODULES if m in DOMAIN and m in TORCH_FREE]),
    ("textual.app,textual.widgets,rich.console", [m for m in MODULES if m not in DOMAIN]),
    ("torch,torch.nn,torch.utils.data,pytest", [m for m in MODULES if m not in TORCH_FREE]),
)


@functools.lru_cache(maxsize=None)
def _imported_by() -> dict[str, set[str]]:
    found = {}
    for preload, modules in _GROUPS:
        if not hasattr(os, "fork"):  # no fork here: one interpreter per module
            found.update({m: _modules_after(f"import {m}") for m in modules})
            continue
        out = subprocess.run([sys.executable, "-c", _PROBE, preload, *modules], capture_output=True, text=True,
                             timeout=300, stdin=subprocess.DEVNULL)
        assert out.returncode == 0, out.stderr[-2000:]
        for name, payload in json.loads(out.stdout.strip().splitlines()[-1]).items():
            assert not payload.startswith("!"), f"import {name} failed: {payload[1:]}"
            found[name] = set(payload.split())
    return found


def test_the_glob_finds_the_package():
    assert {"tutor.cli", "tutor.grading.server", "tutor.runs.pretrain", "tutor.ui.app"} <= set(MODULES)
    assert "tutor.exercise_imports" in DOMAIN and "tutor.ui.app" not in DOMAIN
    assert "tutor.grading.framework" not in TORCH_FREE and "tutor.ui.app" in TORCH_FREE
    assert sorted(m for _, group in _GROUPS for m in group) == sorted(MODULES)


def test_the_probe_sees_what_a_module_imports():
    mods = _imported_by()
    assert "textual" in mods["tutor.ui.app"] and "torch" in mods["tutor.grading.framework"]
    assert "tutor.exercise_imports" in mods["tutor.assemble"]


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_cleanly(module):
    mods = _imported_by()[module]
    if module in DOMAIN:
        assert "textual" not in mods, f"{module} imports textual (domain modules must work without the UI)"
    if module in TORCH_FREE:
        assert "torch" not in mods, f"{module} imports torch at import time (import it inside the function)"


@pytest.mark.parametrize("file", sorted(PACKAGE.rglob("*.py")), ids=lambda f: str(f.relative_to(PACKAGE.parent)))
def test_no_module_level_import_of_a_posix_only_module(file):
    """These modules do not exist on Windows: imported at module level, they keep tutor from starting there."""
    found = []
    for node in ast.parse(file.read_text(encoding="utf-8")).body:  # top level only: a guarded import is fine
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in POSIX_ONLY]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in POSIX_ONLY:
            found.append(node.module)
    assert not found, f"{file.name} imports {found} at module level; import it where it is used"


def test_cli_import_does_not_import_torch():
    assert not {"torch", "tiktoken", "textual"} & _modules_after("import tutor.cli")


def test_help_runs_without_torch():
    code = ("import sys\nfrom typer.testing import CliRunner\nfrom tutor.cli import app\n"
            "r = CliRunner().invoke(app, ['--help'])\nassert r.exit_code == 0, r.output\n")
    assert "torch" not in _modules_after(code)

"""Fast paths stay fast: the CLI does not import torch; domain code never imports textual."""

import subprocess
import sys

import pytest


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True, timeout=60)
    return set(out.stdout.split())


def test_cli_import_does_not_import_torch():
    mods = _modules_after("import tutor.cli")
    assert "torch" not in mods
    assert "tiktoken" not in mods
    assert "textual" not in mods


@pytest.mark.parametrize("module", [
    "tutor.curriculum", "tutor.workspace", "tutor.progress", "tutor.assemble", "tutor.grading.runner",
    "tutor.grading.results", "tutor.grading.report", "tutor.grading.watch", "tutor.data.bpe",
])
def test_domain_modules_import_neither_textual_nor_torch(module):
    mods = _modules_after(f"import {module}")
    assert "textual" not in mods, f"{module} imports textual"
    assert "torch" not in mods, f"{module} imports torch"


def test_help_runs_without_torch():
    code = ("import sys\nfrom typer.testing import CliRunner\nfrom tutor.cli import app\n"
            "r = CliRunner().invoke(app, ['--help'])\nassert r.exit_code == 0, r.output\n")
    assert "torch" not in _modules_after(code)

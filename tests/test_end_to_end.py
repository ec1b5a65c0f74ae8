"""A learner's whole path through the real command: init, copy the reference in, grade everything, exit 0."""

import json
import shutil
import subprocess
import sys

from tutor import curriculum


def tutor(*args, cwd):
    return subprocess.run([sys.executable, "-m", "tutor", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env={**__import__("os").environ, "COLUMNS": "120"})


def test_reference_solutions_pass_every_exercise_and_assemble(tmp_path):
    r = tutor("init", "ws", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    ws = tmp_path / "ws"
    r = tutor("grade", "--json", cwd=ws)
    assert r.returncode == 1
    data = json.loads(r.stdout)
    assert data["passed"] == 0 and {e["status"] for e in data["exercises"]} == {"not_started"}

    for ex in curriculum.load().exercises:
        shutil.copy(ex.solution_path, ws / "exercises" / ex.module)
    r = tutor("grade", "--json", "--assembled", cwd=ws)
    data = json.loads(r.stdout)
    failing = [(e["id"], e["status"], e["checks"][:2]) for e in data["exercises"] if e["status"] != "passed"]
    assert r.returncode == 0 and not failing, failing
    assert data["total"] == len(curriculum.load().exercises)  # the assembly check is not an exercise
    assert data["assembly"]["status"] == "passed" and data["assembly"]["filled_in"] == []

    r = tutor("status", cwd=ws)
    assert f"{len(curriculum.load().exercises)} of {len(curriculum.load().exercises)} exercises pass" in r.stdout

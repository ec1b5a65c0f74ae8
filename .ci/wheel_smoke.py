"""CI: build the wheel, install it (not editable) into a fresh virtualenv, and use it from outside the repository.

An editable install reads lessons, stubs, solutions, checks and data straight from the checkout, so it hides
files the wheel forgets. Here nothing may come from the checkout: the script clears PYTHONPATH, runs every
command from a temporary folder, and checks that `tutor`, its content and its data resolve inside the venv.
Then it does what a learner does first: `tutor --version`, `tutor init`, grade two exercises with the
reference copied in (and a third left as the stub), `tutor run pretrain` for 3 steps, `tutor doctor`.

    python3 .ci/wheel_smoke.py [--venv system|clean] [--keep]

`--venv system` (the default, the faster one) makes the venv with `--system-site-packages`, so torch and the
other dependencies come from the interpreter that runs this script (CI has just installed them) and nothing is
downloaded. `--venv clean` makes an empty venv, installs `torch==2.13.0` (the CPU build on the build machines'
disk; any other spec downloads a multi-GB CUDA build) and then the wheel with its declared dependencies: it
also catches a dependency missing from pyproject.toml, at the cost of installing everything.
Standard library only; the wall time of each step is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TORCH = "torch==2.13.0"  # CI rule: exactly this spec, which pip finds on the local disk
REFERENCE_COPIED = ("tokenizer", "embeddings")  # graded with the reference copied into the workspace
LEFT_AS_STUB = "dataloader"  # graded untouched: must come back not_started, so grading is not a rubber stamp


class SmokeFailure(RuntimeError):
    pass


def step(name: str):
    """Context manager that prints a step's name and wall time."""

    class _Step:
        def __enter__(self):
            self.t0 = time.perf_counter()
            print(f"[wheel-smoke] {name} …", flush=True)

        def __exit__(self, *exc):
            if exc[0] is None:
                print(f"[wheel-smoke] {name}: ok ({time.perf_counter() - self.t0:.1f} s)", flush=True)

    return _Step()


def run(cmd: list[str], *, cwd: Path, env: dict | None = None, expect: int | None = 0,
        timeout: float = 300) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if expect is not None and r.returncode != expect:
        raise SmokeFailure(f"`{' '.join(map(str, cmd))}` exited {r.returncode} (expected {expect})\n"
                           f"--- stdout ---\n{r.stdout[-4000:]}\n--- stderr ---\n{r.stderr[-4000:]}")
    return r


def check(condition: bool, message: str) -> None:
    if not condition:
        raise SmokeFailure(message)


def inside(path: str | Path, folder: Path) -> bool:
    return Path(path).resolve().is_relative_to(folder.resolve())


def content_files(root: Path) -> set[str]:
    """Relative paths of the files a wheel must carry from `root` (compiled files are not shipped)."""
    return {p.relative_to(root).as_posix() for p in root.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}


# Run inside the venv: where everything resolves from, as JSON.
WHERE = r"""
import importlib.metadata as md, json, sys, tutor
from tutor import paths
from tutor.data import datasets
dist = md.distribution("gpt-tutor")
print(json.dumps({
    "version": tutor.__version__, "dist_version": dist.version,
    "dist_files": str(dist.locate_file("")), "package": tutor.__file__,
    "content_root": str(paths.content_root()), "lessons": str(paths.lessons_dir()),
    "stubs": str(paths.stubs_dir()), "solutions": str(paths.solutions_dir()),
    "checks": str(paths.checks_dir()), "builtin": str(datasets.BUILTIN_DIR), "prefix": sys.prefix,
}))
"""


def make_venv(kind: str, venv: Path, wheel: Path, work: Path) -> None:
    if kind == "system":
        run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], cwd=work)
    else:
        run([sys.executable, "-m", "venv", str(venv)], cwd=work)
    py = str(venv / "bin" / "python")
    if kind == "clean":
        run([py, "-m", "pip", "install", "--quiet", TORCH], cwd=work, timeout=900)
    # Not editable, and with its dependencies resolved (from the system site in `system` mode).
    run([py, "-m", "pip", "install", "--quiet", str(wheel)], cwd=work, timeout=900)


def smoke(kind: str, work: Path) -> None:
    dist, venv, home = work / "dist", work / "venv", work / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "TUTOR_WORKSPACE", "TUTOR_CACHE")}
    env.update({"PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", "COLUMNS": "120", "TERM": "dumb",
                "TUTOR_CACHE": str(work / "cache"), "TIKTOKEN_CACHE_DIR": str(work / "tiktoken"),
                "TUTOR_OFFLINE": "1", "PYTHONDONTWRITEBYTECODE": "1"})

    with step("build the wheel"):
        run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(REPO)], cwd=work, timeout=600)
        wheels = list(dist.glob("gpt_tutor-*.whl"))
        check(len(wheels) == 1, f"expected one gpt_tutor wheel in {dist}, found {[w.name for w in wheels]}")
        wheel = wheels[0]
        version = wheel.name.split("-")[1]

    with step(f"install it into a fresh venv ({kind})"):
        make_venv(kind, venv, wheel, work)
        tutor_exe = shutil.which("tutor", path=env["PATH"])
        check(tutor_exe is not None and inside(tutor_exe, venv), f"`tutor` resolves to {tutor_exe}, not the venv's")

    with step("everything comes from the installed package"):
        where = json.loads(run([str(venv / "bin" / "python"), "-c", WHERE], cwd=home, env=env).stdout)
        check(where["version"] == where["dist_version"] == version,
              f"versions disagree: tutor.__version__ {where['version']}, metadata {where['dist_version']}, "
              f"wheel {version}")
        for key in ("package", "dist_files", "content_root", "lessons", "stubs", "solutions", "checks", "builtin"):
            check(inside(where[key], venv) and not inside(where[key], REPO),
                  f"{key} resolves to {where[key]}, outside the venv {venv}")
        installed = Path(where["package"]).parent
        for src, dst in ((REPO / "tutor", installed), (REPO / "lessons", Path(where["lessons"])),
                         (REPO / "exercises", Path(where["stubs"])), (REPO / "solutions", Path(where["solutions"]))):
            missing = sorted(content_files(src) - content_files(dst))
            check(not missing, f"the wheel lacks {len(missing)} file(s) of {src.relative_to(REPO)}/: {missing[:10]}")

    with step("tutor --version, python -m tutor --version"):
        for cmd in (["tutor", "--version"], [str(venv / "bin" / "python"), "-m", "tutor", "--version"]):
            out = run(cmd, cwd=home, env=env).stdout.strip()
            check(out == f"tutor {version}", f"`{' '.join(cmd)}` printed {out!r}, expected 'tutor {version}'")

    with step("tutor init"):
        run(["tutor", "init", "ws"], cwd=home, env=env)
        ws = home / "ws"
        stubs = Path(where["stubs"])
        check((ws / ".tutor").is_dir(), "tutor init made no .tutor/")
        for module in (*REFERENCE_COPIED, LEFT_AS_STUB):
            check((ws / "exercises" / f"{module}.py").read_bytes() == (stubs / f"{module}.py").read_bytes(),
                  f"exercises/{module}.py is not the installed stub")

    with step(f"grade {', '.join(REFERENCE_COPIED)} (reference copied in) and {LEFT_AS_STUB} (stub)"):
        for module in REFERENCE_COPIED:
            shutil.copy(Path(where["solutions"]) / f"{module}.py", ws / "exercises" / f"{module}.py")
        r = run(["tutor", "grade", *REFERENCE_COPIED, LEFT_AS_STUB, "--json"], cwd=ws, env=env, expect=1)
        status = {e["id"]: e["status"] for e in json.loads(r.stdout)["exercises"]}
        expected = {**{m: "passed" for m in REFERENCE_COPIED}, LEFT_AS_STUB: "not_started"}
        check(status == expected, f"grade gave {status}, expected {expected}\n{r.stdout[-3000:]}")

    with step("tutor run pretrain --config tiny --data builtin, 3 steps"):
        r = run(["tutor", "run", "pretrain", "--config", "tiny", "--data", "builtin", "--max-steps", "3",
                 "--eval-freq", "2", "--eval-iter", "1", "--sample-tokens", "4", "--device", "cpu",
                 "--out", str(home / "run"), "--events"], cwd=ws, env=env)
        events = [json.loads(line) for line in r.stdout.splitlines()]
        kinds = [e["event"] for e in events]
        steps = [e["step"] for e in events if e["event"] == "progress"]
        check(kinds[0] == "start" and kinds[-1] == "done" and max(steps, default=0) == 3,
              f"pretrain events: {kinds}, steps {steps}")
        check("embeddings" not in events[0]["filled_in"] and "gpt_model" in events[0]["filled_in"],
              f"the run should use the learner's passing embeddings and fill in the rest: {events[0]}")
        for name in ("checkpoint.pt", "metrics.json"):
            check((home / "run" / name).is_file(), f"pretrain left no {name} in {home / 'run'}")

    with step("tutor doctor"):
        out = run(["tutor", "doctor"], cwd=ws, env=env, expect=None)
        check(out.returncode == 0, f"tutor doctor exited {out.returncode}:\n{out.stdout}\n{out.stderr}")
        check(f"{version} (gpt-tutor, installed) at {venv}" in out.stdout,
              f"tutor doctor does not report the installed wheel:\n{out.stdout}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--venv", choices=("system", "clean"), default="system")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary folder (its path is printed).")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tutor-wheel-smoke-")).resolve()
    t0 = time.perf_counter()
    try:
        smoke(args.venv, work)
    except (SmokeFailure, subprocess.TimeoutExpired) as e:
        print(f"[wheel-smoke] FAILED: {e}", file=sys.stderr, flush=True)
        return 1
    finally:
        if args.keep:
            print(f"[wheel-smoke] kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    total = time.perf_counter() - t0
    print(f"[wheel-smoke] passed in {total:.1f} s", flush=True)
    if total > 120:  # the budget; a loaded machine can exceed it, so it is a note, not a failure
        print("[wheel-smoke] note: over the 2-minute budget (a busy machine, or a slower step above)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Isolated grading processes: a warm server that forks one child per exercise, or a fresh process per exercise.

fork (Linux): a server process imports torch once (and runs no torch op, so no thread pool exists that a
child could inherit in a broken state) and forks a child per exercise, which costs milliseconds; that is
what keeps grading within its time budget. Protocol: one JSON request per line on stdin,
`{"exercise": id, "file": path, "timeout": s, "memory_mb": n}`, one JSON result per line on stdout.

spawn (Windows, which cannot fork; macOS, where forking after importing torch is fragile; or forced with
`TUTOR_GRADER=spawn`): `grade_spawned` starts `python -m tutor.grading.server --one …` per exercise, in the
caller's process, with no server. The same isolation (its own process and process group), the same time
limit (counted from when the child is ready, so the slower start-up is not the learner's), a memory cap where
the OS has one, and the same verdicts; ~3 s slower per exercise (the torch import).

Either way the child's output goes to a pipe drained here, keeping only the start and the end.
POSIX-only modules are imported where they are used: this module must import on Windows.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tutor import portable

OUTPUT_KEEP = 4000  # bytes kept from the start and from the end of what the learner's code prints
STARTUP_LIMIT_S = 120.0  # a spawned child must be ready (torch imported) within this, before the time limit runs


def warm_up(for_fork: bool = True) -> None:
    """Import what every child needs, so forks start warm.

    A spawned child (`for_fork=False`) imports the same, but skips what only pays off when shared by many
    forks: loading tiktoken's encoding (the learner's code loads it if it needs it) and freezing the heap.
    """
    import pytest  # noqa: F401
    import torch  # noqa: F401
    import torch.nn  # noqa: F401
    import torch.utils.data  # noqa: F401

    import tutor.grading.child  # noqa: F401
    import tutor.grading.framework  # noqa: F401
    from tutor.data import bpe

    bpe.ensure_gpt2_bpe()
    _preload_pytest_plugins()
    if not for_fork:
        return
    try:
        import tiktoken

        tiktoken.get_encoding("gpt2")  # loaded once here, inherited by every child
    except Exception:
        pass
    freeze_heap()


def _preload_pytest_plugins() -> None:
    """pytest imports its built-in plugins on every run; import them once here instead (~0.2 s a child)."""
    import importlib

    import _pytest.config

    for name in _pytest.config.default_plugins:
        try:
            importlib.import_module(f"_pytest.{name}")
        except ImportError:
            pass


def freeze_heap() -> None:
    """Move everything imported so far out of the garbage collector's sight.

    A forked child would otherwise walk torch's whole object graph on each collection (0.1 s each), and
    touching those objects copies their memory pages.
    """
    import gc

    gc.collect()
    gc.freeze()


class _Drain(threading.Thread):
    """Reads a pipe to the end, keeping the first and last OUTPUT_KEEP bytes."""

    def __init__(self, fd: int):
        super().__init__(daemon=True)
        self.fd, self.head, self.tail, self.total = fd, bytearray(), bytearray(), 0

    def run(self) -> None:
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            self.total += len(chunk)
            if len(self.head) < OUTPUT_KEEP:
                self.head += chunk[: OUTPUT_KEEP - len(self.head)]
            self.tail = (self.tail + chunk)[-OUTPUT_KEEP:]
        os.close(self.fd)

    def text(self) -> str:
        if self.total <= OUTPUT_KEEP:
            return self.head.decode("utf-8", "replace")
        if self.total <= 2 * OUTPUT_KEEP:
            return (self.head + self.tail[-(self.total - OUTPUT_KEEP):]).decode("utf-8", "replace")
        skipped = self.total - 2 * OUTPUT_KEEP
        return (self.head.decode("utf-8", "replace") + f"\n… [{skipped:,} bytes of output left out] …\n"
                + self.tail.decode("utf-8", "replace"))


def child_env() -> dict[str, str]:
    """The environment of a grading process: no third-party pytest plugins, fixed hashing, this tutor first."""
    env = dict(os.environ)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # the hidden suites need no third-party plugins
    env.setdefault("PYTHONHASHSEED", "0")
    env.setdefault("PYTHONIOENCODING", "utf-8")  # the learner's prints, whatever the console's code page
    src_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = src_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _run_job(kind: str, exercise: str, file: str):
    """The work a child does: grade one exercise, or check a workspace's assembled model (kind "assembly": the
    learner's passing modules and the reference for the rest; "assembly-mine": all of the learner's)."""
    if kind in ("assembly", "assembly-mine"):
        import torch

        from tutor import curriculum
        from tutor.exercise_imports import learner_mapping
        from tutor.progress import ProgressStore
        from tutor.grading.assembly import run_assembly
        from tutor.workspace import Workspace

        torch.set_num_threads(1)  # a tiny model: threads only add overhead
        ws = Workspace(Path(file))
        only = None
        if kind == "assembly":  # which modules pass is progress's to say; the core decides no more than that
            progress = ProgressStore(ws.state_dir).load()
            only = {ex.module_name for ex in curriculum.load().exercises if progress.get(ex.id).status == "passed"}
        return run_assembly(learner_mapping(ws.exercises_dir, only=only))
    from tutor.grading.child import run_exercise

    return run_exercise(exercise, Path(file))


def _cap_memory(memory_mb: int) -> None:
    """Allow this child `memory_mb` more than it uses now (torch imported), where the OS can cap it."""
    now = portable.address_space_bytes()
    if memory_mb and now:
        portable.cap_memory(now + memory_mb * 1024 * 1024)


def _job_result(kind: str, exercise: str, file: str) -> bytes:
    """Run the job and return its result as JSON bytes; a bug of ours becomes an `error` result."""
    from tutor.grading.results import ExerciseResult

    try:
        result = _run_job(kind, exercise, file)
    except Exception:
        import traceback

        result = ExerciseResult(exercise, "error", message="Grader error (a bug in tutor, not in your "
                                "code):\n" + traceback.format_exc(limit=6))
    return json.dumps(result.to_wire()).encode()


def grade_forked(exercise: str, file: str, timeout: float = 60.0, memory_mb: int = 4096,
                 kind: str = "exercise") -> dict:
    """Fork a child that grades `exercise` from `file`; supervise it; return the result as wire data."""
    import select

    start = time.perf_counter()
    res_r, res_w = os.pipe()
    out_r, out_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # ---- child
        try:
            os.setsid()  # its own process group, so a timeout kills whatever it started too
            os.close(res_r)
            os.close(out_r)
            os.dup2(out_w, 1)
            os.dup2(out_w, 2)
            os.close(out_w)
            devnull = os.open(os.devnull, os.O_RDONLY)
            os.dup2(devnull, 0)
            _cap_memory(memory_mb)
            data = _job_result(kind, exercise, file)
            with os.fdopen(res_w, "wb") as f:
                f.write(data)
            os._exit(0)
        except BaseException:
            import traceback

            traceback.print_exc()
            os._exit(70)
    # ---- parent
    os.close(res_w)
    os.close(out_w)
    drain = _Drain(out_r)
    drain.start()
    chunks = []
    deadline = start + timeout
    timed_out = False
    while True:
        left = deadline - time.perf_counter()
        if left <= 0:
            timed_out = True
            break
        ready, _, _ = select.select([res_r], [], [], min(left, 0.5))
        if ready:
            chunk = os.read(res_r, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    os.close(res_r)
    if timed_out:
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
    _, wstatus = os.waitpid(pid, 0)
    try:  # the child's own children may still hold the output pipe
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    drain.join(timeout=2)
    if os.WIFSIGNALED(wstatus):
        ended = ("signal", signal.Signals(os.WTERMSIG(wstatus)).name)
    else:
        ended = ("exit", os.WEXITSTATUS(wstatus))
    return _verdict(exercise, b"".join(chunks), drain.text(), time.perf_counter() - start, timed_out, timeout, ended)


# Windows reports a crash as an NTSTATUS exit code; the nearest POSIX signal names the same verdict.
_WINDOWS_CRASHES = {0xC0000005: "SIGSEGV", 0xC00000FD: "SIGSEGV", 0xC0000409: "SIGABRT", 0xC000001D: "SIGILL"}


def _verdict(exercise: str, raw: bytes, output: str, elapsed: float, timed_out: bool, timeout: float,
             ended: tuple[str, object]) -> dict:
    """The wire result, from what a child left: its result bytes (if any), its output, and how it ended.

    `ended` is ("signal", "SIGSEGV") or ("exit", code): the same verdicts whether it was forked or spawned.
    """
    from tutor.grading.results import ExerciseResult

    if timed_out:
        r = ExerciseResult(exercise, "timeout", duration_s=elapsed, output=output,
                           message=f"Grading stopped after {timeout:.0f} s. Is there an endless loop "
                                   "(a `while` whose condition never changes), or a very large computation?")
        return r.to_wire()
    if raw:
        try:
            data = json.loads(raw)
            data["duration_s"] = elapsed
            data["output"] = output
            return data
        except ValueError:
            pass
    how, value = ended
    if how == "signal":
        sig = value
        why = {"SIGSEGV": "a segmentation fault (memory access out of bounds, often from native code or ctypes)",
               "SIGKILL": "being killed (probably it used too much memory)",
               "SIGABRT": "an abort (a failed internal assertion in native code)"}.get(sig, sig)
        msg = f"The Python process running your code died from {why} [{sig}]."
    else:
        code = value
        msg = (f"The Python process running your code ended (exit code {code}) before grading finished. "
               "Does your module call os._exit() or exit the process some other way?")
        if code == 70:
            msg = "The grader crashed while reporting its result (out of memory?)."
    return ExerciseResult(exercise, "crashed", duration_s=elapsed, message=msg, output=output).to_wire()


def grade_spawned(exercise: str, file: str, timeout: float = 60.0, memory_mb: int = 4096,
                  kind: str = "exercise") -> dict:
    """Start a fresh Python that grades `exercise` from `file`; supervise it; return the result as wire data.

    The portable twin of `grade_forked`, for systems where fork is missing or unsafe. The child reports
    "ready" (a file) once it has imported torch; from then on it has `timeout` seconds, like a forked child.
    """
    import tempfile

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tutor-grade-") as tmp:
        result_file, ready_file = Path(tmp) / "result.json", Path(tmp) / "ready"
        out_r, out_w = os.pipe()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "tutor.grading.server", "--one", kind, exercise, str(file),
                 str(int(memory_mb)), str(result_file)],
                stdin=subprocess.DEVNULL, stdout=out_w, stderr=out_w, env=child_env(), close_fds=True,
                **portable.new_process_group())
        finally:
            os.close(out_w)
        drain = _Drain(out_r)
        drain.start()
        deadline = start + STARTUP_LIMIT_S
        ready = False
        timed_out = False
        while proc.poll() is None:
            if not ready and ready_file.exists():
                ready, deadline = True, time.perf_counter() + timeout
            if time.perf_counter() >= deadline:
                timed_out = True
                break
            try:
                proc.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                pass
        if timed_out or not portable.WINDOWS:  # also whatever the child started that outlived it
            portable.kill_group(proc)
        proc.wait()
        drain.join(timeout=2)
        raw = result_file.read_bytes() if result_file.exists() else b""
    code = proc.returncode
    if code < 0:
        try:
            ended: tuple[str, object] = ("signal", signal.Signals(-code).name)
        except ValueError:
            ended = ("signal", f"signal {-code}")
    elif (code & 0xFFFFFFFF) in _WINDOWS_CRASHES:
        ended = ("signal", _WINDOWS_CRASHES[code & 0xFFFFFFFF])
    else:
        ended = ("exit", code)
    if timed_out and not ready:
        from tutor.grading.results import ExerciseResult

        return ExerciseResult(exercise, "error", duration_s=time.perf_counter() - start, output=drain.text(),
                              message=f"The grading process did not start within {STARTUP_LIMIT_S:.0f} s "
                                      "(importing torch). Is the machine very busy?").to_wire()
    return _verdict(exercise, raw, drain.text(), time.perf_counter() - start, timed_out, timeout, ended)


def _spawned_child(kind: str, exercise: str, file: str, memory_mb: int, result_file: Path) -> None:
    """The body of a spawned grading process (`--one`): warm up, say ready, cap memory, grade, write the result."""
    try:
        warm_up(for_fork=False)
        result_file.with_name("ready").touch()
        _cap_memory(memory_mb)
        data = _job_result(kind, exercise, file)
        tmp = result_file.with_name(result_file.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, result_file)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)  # like a forked child: no interpreter shutdown that the learner's threads could hold up
    except BaseException:
        import traceback

        traceback.print_exc()
        sys.stderr.flush()
        os._exit(70)


def deep_warm_up() -> None:
    """Imports that only some checks need and that cost ~2 s (the first optimizer pulls in torch._dynamo).

    Done only while the server sits idle, so a one-shot `tutor grade` never pays for it.
    """
    import torch._dynamo  # noqa: F401
    import torch.optim  # noqa: F401

    freeze_heap()


def _requests(fd: int, idle_hook, idle_after: float = 1.0):
    """Yield request lines from a raw fd; call `idle_hook` once when nothing arrives for `idle_after` s."""
    import select  # on pipes only on POSIX: the server runs in fork mode only

    buf = b""
    hooked = False
    while True:
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            yield line.decode()
        ready, _, _ = select.select([fd], [], [], None if hooked else idle_after)
        if not ready:
            idle_hook()
            hooked = True
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            return
        buf += chunk


def _answer(line: str) -> dict:
    req: object = None
    try:
        req = json.loads(line)
        return grade_forked(req["exercise"], req["file"], float(req.get("timeout", 60)),
                            int(req.get("memory_mb", 4096)), req.get("kind", "exercise"))
    except Exception as e:  # a bad request must not kill the server
        return {"id": str(req.get("exercise", "?")) if isinstance(req, dict) else "?", "status": "error",
                "checks": [], "duration_s": 0.0, "message": f"Grader error: {type(e).__name__}: {e}",
                "output": ""}


def serve(stdin_fd: int, stdout) -> None:
    """Answer grading requests until stdin closes."""
    warm_up()
    stdout.write(json.dumps({"ready": True, "pid": os.getpid()}) + "\n")
    stdout.flush()
    for line in _requests(stdin_fd, deep_warm_up):
        if line.strip():
            stdout.write(json.dumps(_answer(line)) + "\n")
            stdout.flush()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:  # spawn mode: grade one exercise and exit
        _kind, _exercise, _file, _memory_mb, _result = sys.argv[2:7]
        _spawned_child(_kind, _exercise, _file, int(_memory_mb), Path(_result))
    # Our protocol owns stdout; anything imported that prints goes to stderr instead.
    proto = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    serve(sys.stdin.fileno(), proto)

"""The grading server: a process that has imported torch (and run no torch op) and forks one child per exercise.

Paying `import torch` once and forking is what makes grading fast (DESIGN §9): a fork of a process that
has imported torch costs milliseconds. No torch op runs here before forking, so no thread pool exists
that a child could inherit in a broken state. Protocol: one JSON request per line on stdin,
`{"exercise": id, "file": path, "timeout": s, "memory_mb": n}`, one JSON result per line on stdout.
The child's output goes to a pipe that this process drains, keeping only the start and the end.
"""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import sys
import threading
import time
from pathlib import Path

OUTPUT_KEEP = 4000  # bytes kept from the start and from the end of what the learner's code prints


def warm_up() -> None:
    """Import what every child needs, so forks start warm."""
    import pytest  # noqa: F401
    import torch  # noqa: F401
    import torch.nn  # noqa: F401
    import torch.utils.data  # noqa: F401

    import tutor.grading.child  # noqa: F401
    import tutor.grading.framework  # noqa: F401
    from tutor.data import bpe

    bpe.ensure_gpt2_bpe()
    try:
        import tiktoken

        tiktoken.get_encoding("gpt2")  # loaded once here, inherited by every child
    except Exception:
        pass
    _preload_pytest_plugins()
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


def _vm_size_bytes() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _run_job(kind: str, exercise: str, file: str):
    """The work a child does: grade one exercise, or check a workspace's assembled model (kind "assembly": the
    learner's passing modules and the reference for the rest; "assembly-mine": all of the learner's)."""
    if kind in ("assembly", "assembly-mine"):
        from tutor.assemble import assemble
        from tutor.grading.assembly import run_assembly
        from tutor.workspace import Workspace

        import torch

        torch.set_num_threads(1)  # a tiny model: threads only add overhead
        return run_assembly(assemble(Workspace(Path(file)), only_passed=kind == "assembly").mapping)
    from tutor.grading.child import run_exercise

    return run_exercise(exercise, Path(file))


def grade_forked(exercise: str, file: str, timeout: float = 60.0, memory_mb: int = 4096,
                 kind: str = "exercise") -> dict:
    """Fork a child that grades `exercise` from `file`; supervise it; return the result as wire data."""
    from tutor.grading.results import ExerciseResult

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
            if memory_mb:
                limit = _vm_size_bytes() + memory_mb * 1024 * 1024
                resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            try:
                result = _run_job(kind, exercise, file)
            except Exception:
                import traceback

                result = ExerciseResult(exercise, "error", message="Grader error (a bug in tutor, not in your "
                                        "code):\n" + traceback.format_exc(limit=6))
            data = json.dumps(result.to_wire()).encode()
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
    elapsed = time.perf_counter() - start
    output = drain.text()
    if timed_out:
        r = ExerciseResult(exercise, "timeout", duration_s=elapsed, output=output,
                           message=f"Grading stopped after {timeout:.0f} s. Is there an endless loop "
                                   "(a `while` whose condition never changes), or a very large computation?")
        return r.to_wire()
    raw = b"".join(chunks)
    if raw:
        try:
            data = json.loads(raw)
            data["duration_s"] = elapsed
            data["output"] = output
            return data
        except ValueError:
            pass
    if os.WIFSIGNALED(wstatus):
        sig = signal.Signals(os.WTERMSIG(wstatus)).name
        why = {"SIGSEGV": "a segmentation fault (memory access out of bounds, often from native code or ctypes)",
               "SIGKILL": "being killed (probably it used too much memory)",
               "SIGABRT": "an abort (a failed internal assertion in native code)"}.get(sig, sig)
        msg = f"The Python process running your code died from {why} [{sig}]."
    else:
        code = os.WEXITSTATUS(wstatus)
        msg = (f"The Python process running your code ended (exit code {code}) before grading finished. "
               "Does your module call os._exit() or exit the process some other way?")
        if code == 70:
            msg = "The grader crashed while reporting its result (out of memory?)."
    return ExerciseResult(exercise, "crashed", duration_s=elapsed, message=msg, output=output).to_wire()


def deep_warm_up() -> None:
    """Imports that only some checks need and that cost ~2 s (the first optimizer pulls in torch._dynamo).

    Done only while the server sits idle, so a one-shot `tutor grade` never pays for it.
    """
    import torch._dynamo  # noqa: F401
    import torch.optim  # noqa: F401

    freeze_heap()


def _requests(fd: int, idle_hook, idle_after: float = 1.0):
    """Yield request lines from a raw fd; call `idle_hook` once when nothing arrives for `idle_after` s."""
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
    # Our protocol owns stdout; anything imported that prints goes to stderr instead.
    proto = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    serve(sys.stdin.fileno(), proto)

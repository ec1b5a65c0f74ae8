"""What differs between Linux, macOS and Windows, in one small seam: locks, process groups, stopping a child,
splitting `$EDITOR`, and how grading starts its processes.

Everything else in tutor calls these functions instead of asking `os.name`, so the Windows branches can be
exercised on Linux: tests set `portable.WINDOWS = True` (monkeypatch) or `TUTOR_GRADER=spawn`. POSIX-only
modules (`fcntl`, `resource`) are imported inside the functions that use them, never at module level, so
tutor starts on Windows. No torch, no UI.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterator

WINDOWS = os.name == "nt"
MACOS = sys.platform == "darwin"
GRADER_ENV = "TUTOR_GRADER"  # "fork" or "spawn" forces the grading mode; unset: the platform's best


# -- locks -------------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive inter-process lock on `path` (created if missing) while the block runs.

    `filelock` uses `fcntl.flock` on POSIX and `msvcrt.locking` on Windows.
    """
    from filelock import FileLock

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # thread_local=False: the TUI's worker threads and its main thread must exclude one another too.
    with FileLock(str(path), thread_local=False):
        yield


# -- processes ---------------------------------------------------------------------------------------------------
def new_process_group() -> dict:
    """`subprocess.Popen` keyword arguments that start a child in its own process group.

    A Ctrl-C typed at the terminal then does not reach it, and the whole group can be stopped or killed.
    """
    if WINDOWS:
        return {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0x200)}
    return {"start_new_session": True}


def interrupt(proc: subprocess.Popen) -> None:
    """Ask a child started with `new_process_group()` to stop as Ctrl-C would (a run then saves a checkpoint).

    POSIX: SIGINT. Windows: CTRL_BREAK_EVENT (the only console event a process group can be sent; the child
    sees SIGBREAK), else terminate.
    """
    if proc.poll() is not None:
        return
    try:
        if not WINDOWS:
            proc.send_signal(signal.SIGINT)
        elif hasattr(signal, "CTRL_BREAK_EVENT"):
            proc.send_signal(signal.CTRL_BREAK_EVENT)
        else:  # Windows forced on another OS (tests): the portable last resort
            proc.terminate()
    except (ProcessLookupError, OSError):
        pass


def kill_group(proc: subprocess.Popen) -> None:
    """Kill a child started with `new_process_group()` and whatever it started."""
    if not WINDOWS and hasattr(os, "killpg"):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
            return
        except (ProcessLookupError, PermissionError, OSError):
            pass
    elif WINDOWS and os.name == "nt":
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(["taskkill", "/T", "/F", "/PID", str(proc.pid)], capture_output=True, timeout=10)
    with contextlib.suppress(ProcessLookupError, OSError):
        proc.kill()


def stop_signals() -> tuple[signal.Signals, ...]:
    """The signals a run treats as "stop and save": SIGINT, and on Windows also SIGBREAK (see `interrupt`)."""
    extra = getattr(signal, "SIGBREAK", None)
    return (signal.SIGINT, extra) if extra is not None else (signal.SIGINT,)


def split_command(command: str) -> list[str]:
    """Split `$EDITOR`/`$VISUAL` into argv.

    POSIX: shell words (`code --wait`, quotes). Windows: backslashes are path separators, not escapes, so
    split in non-POSIX mode and drop the quotes around a word (`"C:\\Program Files\\…\\code.cmd" --wait`).
    """
    if not WINDOWS:
        return shlex.split(command)
    words = shlex.split(command, posix=False)
    return [w[1:-1] if len(w) >= 2 and w[0] == w[-1] and w[0] in "\"'" else w for w in words]


# -- grading -----------------------------------------------------------------------------------------------------
def grading_mode() -> tuple[str, str]:
    """("fork" or "spawn", why): how the grader starts one isolated process per exercise.

    fork (a warm server that has imported torch forks a child per exercise: fast) where the OS has it and
    it is safe; spawn (a fresh interpreter per exercise: ~3 s slower each, the torch import) on Windows (no
    fork) and macOS (forking after importing torch is fragile there). `TUTOR_GRADER=fork|spawn` forces one.
    """
    forced = os.environ.get(GRADER_ENV, "").strip().lower()
    can_fork = hasattr(os, "fork") and not WINDOWS
    if forced == "spawn":
        return "spawn", f"{GRADER_ENV}=spawn"
    if forced == "fork":
        if can_fork:
            return "fork", f"{GRADER_ENV}=fork"
        return "spawn", f"{GRADER_ENV}=fork, but this system cannot fork"
    why = f" ({GRADER_ENV}={forced!r} is neither fork nor spawn)" if forced else ""
    if not can_fork:
        return "spawn", "this system cannot fork" + why
    if MACOS:
        return "spawn", "forking after importing torch is fragile on macOS" + why
    return "fork", "this system forks" + why


def cap_memory(limit_bytes: int) -> bool:
    """Cap this process's address space at `limit_bytes` where the OS enforces one (Linux); True if capped.

    Windows has no `resource` module, and macOS does not enforce RLIMIT_AS; there grading runs uncapped
    (the time limit still applies).
    """
    try:
        import resource
    except ImportError:
        return False
    if MACOS:
        return False
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))
    except (ValueError, OSError):
        return False
    return True


def address_space_bytes() -> int:
    """This process's virtual memory size (Linux `/proc`), or 0 where it is not known."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


# -- the C allocator -----------------------------------------------------------------------------------------------
KEEP_MEMORY_ENV = "TUTOR_KEEP_FREED_MEMORY"  # "0": leave the C allocator as it is
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # glibc's mallopt() parameters (malloc.h)


def keep_freed_memory(env: dict | None = None) -> bool:
    """Let this process reuse the memory it frees instead of handing it back to the OS (glibc); True if done.

    A training step allocates and frees the same large tensors every time (activations, logits, gradients).
    glibc serves blocks over 32 MiB with fresh `mmap` pages and returns them on free, so the kernel faults in
    and zeroes every page again on the next step: on two CPU cores a quarter of a gpt2-124M step went there
    (bench/train_throughput.py). With mmap off for large blocks and trimming off, freed blocks stay in the
    heap for the next step. The process's memory then stays at its peak until it ends, which is why only
    `tutor run …` processes do this, never the TUI. macOS, Windows and non-glibc Linux: nothing to do (their
    allocators differ); `TUTOR_KEEP_FREED_MEMORY=0` turns it off.
    """
    env = os.environ if env is None else env
    if WINDOWS or MACOS or env.get(KEEP_MEMORY_ENV, "1") == "0":
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None)  # the C library this process already runs on
        libc.gnu_get_libc_version  # glibc only: musl's mallopt does nothing
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # glibc stores the trim threshold as a size_t: -1 becomes the largest one, so the heap is never trimmed.
    return mallopt(_M_MMAP_MAX, 0) == 1 and mallopt(_M_TRIM_THRESHOLD, -1) == 1

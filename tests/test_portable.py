"""The portability seam: locks across processes, process groups, stopping a run, `$EDITOR`, the grading mode.

The Windows branches run here too, forced with `portable.WINDOWS = True`, as far as Linux can play them.
"""

import platform
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from tutor import portable


def test_file_lock_excludes_another_process(tmp_path):
    lock, log = tmp_path / "x.lock", tmp_path / "log"
    holder = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from tutor.portable import file_lock
        with file_lock(Path({str(lock)!r})):
            Path({str(log)!r}).write_text("held")
            time.sleep(1.5)
            Path({str(log)!r}).write_text("released")
    """)
    proc = subprocess.Popen([sys.executable, "-c", holder])
    try:
        deadline = time.monotonic() + 60
        while not log.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert log.read_text() == "held"
        with portable.file_lock(lock):
            seen = log.read_text()  # only once the other process let go
    finally:
        proc.wait(timeout=60)
    assert seen == "released"


def test_file_lock_excludes_another_thread(tmp_path):
    lock, inside, overlaps = tmp_path / "y.lock", [], []

    def work():
        for _ in range(20):
            with portable.file_lock(lock):
                inside.append(1)
                if len(inside) > 1:
                    overlaps.append(1)
                time.sleep(0.001)
                inside.pop()

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not overlaps


@pytest.mark.parametrize("windows, command, argv", [
    (False, "code --wait", ["code", "--wait"]),
    (False, "'/opt/my editor/bin/ed' -n", ["/opt/my editor/bin/ed", "-n"]),
    (True, r'"C:\Program Files\Microsoft VS Code\bin\code.cmd" --wait',
     [r"C:\Program Files\Microsoft VS Code\bin\code.cmd", "--wait"]),
    (True, r"C:\Windows\notepad.exe", [r"C:\Windows\notepad.exe"]),  # backslashes are no escapes there
])
def test_split_command(monkeypatch, windows, command, argv):
    monkeypatch.setattr(portable, "WINDOWS", windows)
    assert portable.split_command(command) == argv


SLEEPER = "import signal, sys, time\nsignal.signal(signal.SIGINT, lambda *a: sys.exit(42))\nprint('ok', flush=True)\ntime.sleep(60)"


def _sleeper() -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", SLEEPER], stdout=subprocess.PIPE, text=True,
                            **portable.new_process_group())
    assert proc.stdout.readline() == "ok\n"  # its handler is installed
    return proc


def test_interrupt_is_a_ctrl_c(monkeypatch):
    proc = _sleeper()
    portable.interrupt(proc)
    assert proc.wait(timeout=30) == 42  # the child's Ctrl-C handler ran


def test_interrupt_falls_back_to_terminate_where_there_is_no_ctrl_break(monkeypatch):
    if hasattr(portable.signal, "CTRL_BREAK_EVENT"):
        pytest.skip("a real Windows: CTRL_BREAK_EVENT is used")
    proc = _sleeper()
    monkeypatch.setattr(portable, "WINDOWS", True)
    portable.interrupt(proc)
    assert proc.wait(timeout=30) != 0


def test_kill_group_kills_what_the_child_started():
    code = ("import subprocess, sys, time\n"
            "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
            "print(p.pid, flush=True)\ntime.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            **portable.new_process_group())
    grandchild = int(proc.stdout.readline())
    portable.kill_group(proc)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            import os

            os.kill(grandchild, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the grandchild outlived kill_group")


def test_new_process_group_on_windows_uses_creation_flags(monkeypatch):
    monkeypatch.setattr(portable, "WINDOWS", True)
    assert portable.new_process_group() == {"creationflags": 0x200}  # CREATE_NEW_PROCESS_GROUP


def test_stop_signals_include_ctrl_c():
    assert portable.signal.SIGINT in portable.stop_signals()


def test_cap_memory_is_a_no_op_where_the_os_has_none(monkeypatch):
    monkeypatch.setattr(portable, "MACOS", True)
    assert portable.cap_memory(1 << 40) is False


@pytest.mark.parametrize("os_flag", ["WINDOWS", "MACOS"])
def test_keep_freed_memory_leaves_other_allocators_alone(monkeypatch, os_flag):
    monkeypatch.setattr(portable, os_flag, True)
    assert portable.keep_freed_memory({}) is False


def test_keep_freed_memory_can_be_turned_off():
    assert portable.keep_freed_memory({portable.KEEP_MEMORY_ENV: "0"}) is False


# Allocates, touches and frees a 64 MiB block three times in a fresh process, and prints how many page faults the
# second and third rounds cost: a block freed back to the OS faults in every page again.
_FAULTS = textwrap.dedent("""
    import ctypes, resource, sys
    from tutor import portable
    kept = portable.keep_freed_memory({}) if sys.argv[1] == "keep" else False
    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, (ctypes.c_size_t,)
    libc.free.argtypes = (ctypes.c_void_p,)
    libc.memset.argtypes = (ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t)
    size = 64 << 20
    def one_round():
        block = libc.malloc(size)
        libc.memset(block, 1, size)
        libc.free(block)
    one_round()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    one_round(); one_round()
    print(kept, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                    reason="glibc's allocator only")
def test_keep_freed_memory_reuses_freed_blocks_instead_of_faulting_them_in_again():
    def faults(mode: str) -> tuple[str, int]:
        out = subprocess.run([sys.executable, "-c", _FAULTS, mode], capture_output=True, text=True, timeout=60,
                             check=True).stdout.split()
        return out[0], int(out[1])

    pages = (64 << 20) // 4096
    kept, with_keep = faults("keep")
    default, without = faults("default")
    assert (kept, default) == ("True", "False")
    assert without > pages, without  # two rounds of 16,384 pages each, faulted in again
    assert with_keep < pages // 10, with_keep  # the freed block was reused

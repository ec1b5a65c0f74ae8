"""The portability seam: locks across processes, process groups, stopping a run, `$EDITOR`, the grading mode.

The Windows branches run here too, forced with `portable.WINDOWS = True`, as far as Linux can play them.
"""

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

"""Watching a file: one event per save (debounced), with file events or with announced polling."""

import threading
import time

import pytest

from tutor.grading.watch import Changed, Polling, watch_file


def _save_later(path, times, delay=0.8):
    def run():
        for i in range(times):
            time.sleep(delay)
            path.write_text(f"version {i}\n")
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


@pytest.mark.parametrize("polling", [False, True])
def test_each_save_gives_one_event(tmp_path, polling):
    f = tmp_path / "ex.py"
    f.write_text("start\n")
    stop = threading.Event()
    events, notes = [], []
    _save_later(f, 2)
    deadline = time.time() + 15
    for item in watch_file(f, force_polling=polling, stop_event=stop):
        if isinstance(item, Changed):
            events.append(time.time())
        else:
            notes.append(item)
        if len(events) >= 2 or time.time() > deadline:
            break
    assert len(events) == 2
    if polling:
        assert notes == [Polling(asked=True)]
    else:
        assert notes == [], "file events work here: no polling announced"


def test_changes_to_other_files_are_ignored(tmp_path):
    f = tmp_path / "ex.py"
    other = tmp_path / "other.py"
    f.write_text("a\n")
    stop = threading.Event()

    def touch():
        time.sleep(0.5)
        other.write_text("noise\n")
        time.sleep(0.8)
        f.write_text("b\n")
    threading.Thread(target=touch, daemon=True).start()
    t0 = time.time()
    for item in watch_file(f, stop_event=stop):
        if isinstance(item, Changed):
            break
    assert time.time() - t0 >= 1.2  # the first event is the save of f, not of other.py

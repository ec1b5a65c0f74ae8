"""Watching the current exercise's file for the app: a thread running `tutor.grading.watch.watch_file`, the
fallback to polling when file events do not arrive, and typed messages back to the app (`FileSaved`,
`WatchStateChanged`). The app turns a `WatchState` into the line the Grade screen shows (`WatchState.note`)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from textual.message import Message

from tutor.grading.watch import POLL_S, Changed, Polling
from tutor.ui.messages import FileSaved, WatchStateChanged

WatchFn = Callable[..., Iterator[object]]
MISSED_EVENT_S = 2.5  # a change seen by stat() but not reported by file events for this long: poll instead


@dataclass(frozen=True)
class WatchState:
    """How the current file is watched."""

    how: str  # "events" | "polling" | "off" (the learner turned it off) | "stopped" (the watcher failed)
    file: str = ""  # as shown to the learner (relative to the workspace)
    fell_back: bool = False  # polling because file events did not work (not because it was asked for)
    reason: str = ""  # why it fell back or stopped

    @property
    def degraded(self) -> bool:
        """Worth a warning: the learner did not choose this."""
        return self.fell_back or self.how == "stopped"

    @property
    def note(self) -> str:
        if self.how == "off":
            return "Not watching: press w to re-grade on every save."
        if self.how == "stopped":
            return f"Watching stopped: {self.reason}. Press g to grade."
        if self.how == "events":
            return f"Watching {self.file} (file events): saving it re-grades."
        if self.fell_back:
            why = f" ({self.reason})" if self.reason else ""
            return f"Watching {self.file} by checking every {POLL_S} s{why}: saving it re-grades."
        return f"Watching {self.file} (checking every {POLL_S} s): saving it re-grades."


class ExerciseWatcher:
    """Watches one file at a time on a daemon thread and posts messages; `watch()` again to switch files."""

    def __init__(self, post: Callable[[Message], object], watch_fn: WatchFn | None = None,
                 force_polling: bool = False):
        self._post = post
        self._watch_fn = watch_fn
        self._force_polling = force_polling
        self.fell_back = False  # file events did not work once: poll from then on
        self._fall_back_reason = ""
        self._stop: threading.Event | None = None
        self.file: Path | None = None
        self._exercise_id: str | None = None
        self._shown = ""
        self._seen_mtime: int | None = None
        self._change_seen_at: float | None = None

    @property
    def polling(self) -> bool:
        return self._force_polling or self.fell_back

    def watch(self, exercise_id: str, file: Path, shown_as: str) -> WatchState:
        """Start watching `file` (stopping the previous watch); return the state to show."""
        self.stop()
        stop = threading.Event()
        self._stop, self.file, self._exercise_id, self._shown = stop, file, exercise_id, shown_as
        self._seen_mtime, self._change_seen_at = _mtime(file), None
        threading.Thread(target=self._loop, args=(exercise_id, file, self.polling, stop), daemon=True,
                         name="tutor-watch").start()
        return self.state()

    def state(self) -> WatchState:
        if self.polling:
            return WatchState("polling", self._shown, fell_back=self.fell_back, reason=self._fall_back_reason)
        return WatchState("events", self._shown)

    def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()
            self._stop = None
        self.file = None

    def saw_save(self) -> None:
        """A save was reported: the change is accounted for."""
        if self.file is not None:
            self._seen_mtime, self._change_seen_at = _mtime(self.file), None

    def check_missed_events(self) -> bool:
        """Call every second or so. If the file changed and no event came, file events do not work here: switch to
        polling (the watcher restarts and reports its new state) and return True, so the caller re-grades."""
        file = self.file
        if file is None or self.polling:
            return False
        now_mtime = _mtime(file)
        if now_mtime == self._seen_mtime:
            self._change_seen_at = None
            return False
        now = time.monotonic()
        if self._change_seen_at is None:
            self._change_seen_at = now
            return False
        if now - self._change_seen_at < MISSED_EVENT_S:
            return False
        self.fell_back, self._fall_back_reason = True, "file events did not arrive"
        assert self._exercise_id is not None
        self._post(WatchStateChanged(self.watch(self._exercise_id, file, self._shown)))
        return True

    def _loop(self, exercise_id: str, file: Path, polling: bool, stop: threading.Event) -> None:
        watch_fn = self._watch_fn
        if watch_fn is None:
            from tutor.grading.watch import watch_file as watch_fn
        try:
            for event in watch_fn(file, force_polling=polling, stop_event=stop):
                if stop.is_set():
                    return
                if isinstance(event, Changed):
                    self._post(FileSaved(exercise_id))
                elif isinstance(event, Polling) and not event.asked:  # the watcher fell back by itself
                    self.fell_back, self._fall_back_reason = True, "file events are not available here"
                    self._post(WatchStateChanged(WatchState("polling", self._shown, fell_back=True,
                                                            reason=f"file events are not available: {event.reason}")))
        except Exception as e:  # noqa: BLE001 - tell the learner, do not crash the app
            if not stop.is_set():
                self._post(WatchStateChanged(WatchState("stopped", self._shown, reason=str(e))))


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None

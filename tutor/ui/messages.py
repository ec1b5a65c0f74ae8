"""The small messages workers send back to the UI thread (grading, file watching, child runs).

Workers never touch widgets; they post one of these and the app or screen updates itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

from tutor.grading.results import ExerciseResult

if TYPE_CHECKING:
    from tutor.ui.file_watch import WatchState


@dataclass
class GraderReady(Message):
    """The warm grading process has imported torch and waits for work."""

    seconds: float


@dataclass
class GraderFailed(Message):
    """The grading process could not start; `text` says why."""

    text: str


@dataclass
class Graded(Message):
    """One exercise was graded (and the result recorded in progress)."""

    exercise_id: str
    result: ExerciseResult
    wall_s: float


@dataclass
class FileSaved(Message):
    """The watched exercise file changed (debounced)."""

    exercise_id: str


@dataclass
class WatchStateChanged(Message):
    """The watcher changed how it watches (fell back to polling, or stopped); `state` is a `file_watch.WatchState`."""

    state: "WatchState"


@dataclass
class RunEvent(Message):
    """One JSON event from a child `tutor run …` process."""

    event: dict

    def can_replace(self, message: Message) -> bool:
        # Progress ticks can arrive faster than the screen redraws: keep only the newest.
        return (isinstance(message, RunEvent) and message.event.get("event") == "progress"
                and self.event.get("event") == "progress")


@dataclass
class RunEnded(Message):
    """The child process exited."""

    returncode: int | None
    stopped: bool  # the learner asked it to stop
    stderr_tail: str

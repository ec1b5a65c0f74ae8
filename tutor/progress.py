"""The learner's progress in `.tutor/progress.json`: status, first pass, attempts, hints, solutions viewed.

Every change is first appended to `.tutor/events.jsonl` (one line per event, one `write` call, under an
exclusive lock), then the snapshot `progress.json` is rewritten atomically (temp file + rename). If the
snapshot is ever unreadable it is backed up and rebuilt from the event log, so a passed exercise is never
lost. No torch, no UI.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tutor.portable import file_lock

SCHEMA_VERSION = 1


@dataclass
class ExerciseProgress:
    status: str = "not_started"  # last grading status
    attempts: int = 0
    first_passed_at: str | None = None
    last_graded_at: str | None = None
    hints_used: int = 0
    solution_viewed: bool = False
    solution_forced: bool = False  # viewed before passing

    @property
    def passed_ever(self) -> bool:
        return self.first_passed_at is not None


@dataclass
class Progress:
    exercises: dict[str, ExerciseProgress] = field(default_factory=dict)
    last_exercise: str | None = None

    def get(self, exercise_id: str) -> ExerciseProgress:
        return self.exercises.get(exercise_id, ExerciseProgress())

    def to_json(self) -> dict:
        return {"schema": SCHEMA_VERSION, "last_exercise": self.last_exercise,
                "exercises": {k: asdict(v) for k, v in sorted(self.exercises.items())}}

    @classmethod
    def from_json(cls, data: dict) -> "Progress":
        if not isinstance(data, dict) or data.get("schema") != SCHEMA_VERSION:
            raise ValueError("unknown progress schema")
        known = set(ExerciseProgress.__dataclass_fields__)
        exercises = {k: ExerciseProgress(**{f: v for f, v in e.items() if f in known})
                     for k, e in data.get("exercises", {}).items()}
        return cls(exercises=exercises, last_exercise=data.get("last_exercise"))

    def apply(self, event: dict) -> None:
        """Fold one event into the state (the same code replays the log)."""
        kind, ex_id, at = event.get("kind"), event.get("exercise"), event.get("at")
        if not ex_id:
            return
        e = self.exercises.setdefault(ex_id, ExerciseProgress())
        self.last_exercise = ex_id
        if kind == "graded":
            e.attempts += 1
            e.status = event.get("status", e.status)
            e.last_graded_at = at
            if e.status == "passed" and e.first_passed_at is None:
                e.first_passed_at = at
        elif kind == "hint":
            e.hints_used = max(e.hints_used, int(event.get("count", e.hints_used + 1)))
        elif kind == "solution":
            e.solution_viewed = True
            if event.get("forced"):
                e.solution_forced = True
        elif kind == "reset":
            e.status = "not_started"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class ProgressStore:
    """Reads and updates one workspace's progress, safely across processes."""

    def __init__(self, state_dir: Path):
        self.dir = Path(state_dir)
        self.file = self.dir / "progress.json"
        self.log = self.dir / "events.jsonl"
        self.lock_file = self.dir / "progress.lock"

    @contextlib.contextmanager
    def _locked(self):
        with file_lock(self.lock_file):
            yield

    def _replay(self) -> Progress:
        progress = Progress()
        if self.log.exists():
            for line in self.log.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    progress.apply(json.loads(line))
                except ValueError:
                    continue  # a torn last line after a crash
        return progress

    def _read_unlocked(self) -> Progress:
        if not self.file.exists():
            return self._replay()
        try:
            return Progress.from_json(json.loads(self.file.read_text(encoding="utf-8")))
        except (ValueError, TypeError):
            # Corrupt or unknown: keep a copy for the curious, rebuild from the event log.
            backup = self.file.with_name(f"progress.corrupt-{time.strftime('%Y%m%d-%H%M%S')}.json")
            with contextlib.suppress(OSError):
                os.replace(self.file, backup)
            progress = self._replay()
            self._write_unlocked(progress)
            return progress

    def _write_unlocked(self, progress: Progress) -> None:
        tmp = self.file.with_name(f".progress.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(progress.to_json(), fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.file)

    def load(self) -> Progress:
        with self._locked():
            return self._read_unlocked()

    def record(self, kind: str, exercise_id: str, **data) -> Progress:
        """Append an event and update the snapshot; return the new state."""
        event = {"kind": kind, "exercise": exercise_id, "at": _now(), **data}
        with self._locked():
            progress = self._read_unlocked()
            line = (json.dumps(event) + "\n").encode()
            fd = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
            progress.apply(event)
            self._write_unlocked(progress)
            return progress

    # Convenience wrappers.
    def record_grade(self, exercise_id: str, status: str) -> Progress:
        return self.record("graded", exercise_id, status=status)

    def use_hint(self, exercise_id: str, available: int) -> int:
        """Reveal one more hint (up to `available`); return how many are now revealed."""
        with self._locked():
            count = min(self._read_unlocked().get(exercise_id).hints_used + 1, available)
        self.record("hint", exercise_id, count=count)
        return count

"""The learner's progress in `.tutor/progress.json`: status, first pass, attempts, hints, solutions viewed.

Every change is first appended to `.tutor/events.jsonl` (one line per event, one `write` call, under an
exclusive lock), then the snapshot `progress.json` is rewritten atomically (temp file + rename). If the
snapshot is ever unreadable it is backed up and rebuilt from the event log, so a passed exercise is never
lost. No torch, no UI.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tutor.grading.results import STATUSES
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
    last_digest: str | None = None  # SHA-256 of the file last graded: grading it again is not a new attempt

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
        """Parse and validate a snapshot; ValueError says what is wrong (the store then rebuilds it)."""
        if not isinstance(data, dict) or data.get("schema") != SCHEMA_VERSION:
            raise ValueError("unknown progress schema")
        entries = data.get("exercises", {})
        if not isinstance(entries, dict):
            raise ValueError("`exercises` is not an object")
        exercises = {}
        for ex_id, entry in entries.items():
            if not isinstance(entry, dict):
                raise ValueError(f"the entry of {ex_id!r} is not an object")
            exercises[ex_id] = _exercise_progress(ex_id, entry)
        last = data.get("last_exercise")
        if last is not None and not isinstance(last, str):
            raise ValueError("`last_exercise` is not a string")
        return cls(exercises=exercises, last_exercise=last)

    def apply(self, event: dict) -> None:
        """Fold one event into the state (the same code replays the log)."""
        kind, ex_id, at = event.get("kind"), event.get("exercise"), event.get("at")
        if not ex_id or not isinstance(ex_id, str) or not isinstance(at, (str, type(None))):
            return
        if kind == "graded" and event.get("status") not in STATUSES:
            return
        e = self.exercises.setdefault(ex_id, ExerciseProgress())
        if not (kind == "graded" and event["status"] == "not_started"):
            self.last_exercise = ex_id  # grading an untouched stub (as `tutor grade` does for all) is not working on it
        if kind == "graded":
            digest = event.get("digest")
            # An attempt is new content graded; an untouched stub (not_started) is not one yet.
            if event["status"] != "not_started" and not (isinstance(digest, str) and digest == e.last_digest):
                e.attempts += 1
            e.last_digest = digest if isinstance(digest, str) else None
            e.status = event["status"]
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
            e.last_digest = None


# The type each field of a snapshot entry must have (bool is not accepted where an int is meant).
_FIELD_TYPES = {"status": (str,), "attempts": (int,), "first_passed_at": (str, type(None)),
                "last_graded_at": (str, type(None)), "hints_used": (int,), "solution_viewed": (bool,),
                "solution_forced": (bool,), "last_digest": (str, type(None))}


def _exercise_progress(ex_id: str, entry: dict) -> ExerciseProgress:
    values = {}
    for name, types in _FIELD_TYPES.items():
        if name not in entry:
            continue
        value = entry[name]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise ValueError(f"{ex_id}.{name} is {value!r}")
        if isinstance(value, int) and not isinstance(value, bool) and value < 0:
            raise ValueError(f"{ex_id}.{name} is negative")
        values[name] = value
    if values.get("status", "not_started") not in STATUSES:
        raise ValueError(f"{ex_id}.status is {values['status']!r}")
    return ExerciseProgress(**values)


def file_digest(path: Path) -> str | None:
    """SHA-256 of a file's bytes (None if it cannot be read): what tells a new attempt from a re-grade."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class ProgressStore:
    """Reads and updates one workspace's progress, safely across processes."""

    def __init__(self, state_dir: Path):
        self.dir = Path(state_dir)
        self.file = self.dir / "progress.json"
        self.log = self.dir / "events.jsonl"
        self.lock_file = self.dir / "progress.lock"
        self.recovered: str | None = None  # set when an invalid snapshot was rebuilt: one line for the learner

    @contextlib.contextmanager
    def _locked(self):
        with file_lock(self.lock_file):
            yield

    def _replay(self) -> Progress:
        progress = Progress()
        if self.log.exists():
            for line in self.log.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    event = json.loads(line)
                    if isinstance(event, dict):
                        progress.apply(event)
                except (ValueError, TypeError):
                    continue  # a torn last line after a crash, or an event of the wrong shape
        return progress

    def _read_unlocked(self) -> Progress:
        if not self.file.exists():
            return self._replay()
        try:
            return Progress.from_json(json.loads(self.file.read_text(encoding="utf-8")))
        except (ValueError, TypeError) as e:
            # Corrupt, unknown or of the wrong shape: keep a copy for the curious, rebuild from the event log.
            backup = self.file.with_name(f"progress.corrupt-{time.strftime('%Y%m%d-%H%M%S')}.json")
            with contextlib.suppress(OSError):
                os.replace(self.file, backup)
            progress = self._replay()
            self._write_unlocked(progress)
            self.recovered = (f"{self.file.name} was not valid ({e}); rebuilt it from {self.log.name} "
                              f"and kept the old one as {backup.name}.")
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
    def record_grade(self, exercise_id: str, status: str, digest: str | None = None) -> Progress:
        """Record a grading; `digest` (`file_digest` of the graded file, taken before grading) makes a re-grade
        of unchanged content, from the CLI and the TUI alike, count as one attempt."""
        return self.record("graded", exercise_id, status=status, **({"digest": digest} if digest else {}))

    def use_hint(self, exercise_id: str, available: int) -> int:
        """Reveal one more hint (up to `available`); return how many are now revealed."""
        with self._locked():
            count = min(self._read_unlocked().get(exercise_id).hints_used + 1, available)
        self.record("hint", exercise_id, count=count)
        return count

"""The client side of grading: start the warm grading server, send it exercises, read results back.

The CLI, the TUI's worker and the tests all grade through `GradingServer`. It never imports torch
itself; the server process does. If the server dies (it should not: children crash, not the server),
the next request starts a new one. Where fork is missing or unsafe (`tutor.portable.grading_mode`), there is
no server: each request starts a fresh grading process from here (`server.grade_spawned`), which is slower;
`notice` says so once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

from tutor import portable
from tutor.grading import server as grading_server
from tutor.grading.results import ExerciseResult

DEFAULT_TIMEOUT = 60.0
DEFAULT_MEMORY_MB = 4096


class GradingServer:
    """A warm grading process (or, in spawn mode, a fresh one per request). Use as a context manager, or call
    `close()`.

    Args:
        mode: "fork" or "spawn"; None: what `tutor.portable.grading_mode()` chooses (`TUTOR_GRADER` forces it).
    """

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, memory_mb: int = DEFAULT_MEMORY_MB,
                 mode: str | None = None):
        self.timeout = timeout
        self.memory_mb = memory_mb
        self.mode, why = (mode, "asked for") if mode else portable.grading_mode()
        if self.mode not in ("fork", "spawn"):
            raise ValueError(f"grading mode {self.mode!r}: choose fork or spawn")
        # Said once, by whichever front end shows it (take_notice), not on every grade.
        self.notice: str | None = None
        if self.mode == "spawn":
            self.notice = (f"Grading starts a fresh Python for each exercise here ({why}): about 3 s slower per "
                           "exercise than on Linux, where one warm process serves them all.")
        self._notice_taken = False
        self._proc: subprocess.Popen | None = None
        self._lock = threading.RLock()  # start() is called with it held, too

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            self._start()

    def _start(self) -> None:
        if self.mode == "spawn" or (self._proc and self._proc.poll() is None):
            return  # spawn: nothing stays warm; each request starts its own process
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tutor.grading.server"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, env=grading_server.child_env(), **portable.new_process_group(),
        )
        hello = self._proc.stdout.readline()
        if not hello:
            raise RuntimeError("the grading server did not start (is torch installed? try: python -c 'import torch')")

    def close(self) -> None:
        if self._proc:
            try:
                self._proc.stdin.close()
                self._proc.wait(timeout=5)
            except Exception:
                self._proc.kill()
            self._proc = None

    def __enter__(self) -> "GradingServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def warm(self) -> bool:
        """Ready to grade without a start-up (in spawn mode always: there is nothing to start)."""
        return self.mode == "spawn" or (self._proc is not None and self._proc.poll() is None)

    def take_notice(self) -> str | None:
        """`notice` the first time it is asked for, then None: a front end shows it once."""
        if self._notice_taken:
            return None
        self._notice_taken = True
        return self.notice

    # -- grading ----------------------------------------------------------------------------------------
    def grade_file(self, exercise_id: str, file: Path, timeout: float | None = None) -> ExerciseResult:
        """Grade `file` as the learner's version of `exercise_id`."""
        return self._request({"exercise": exercise_id, "file": str(Path(file).resolve()),
                              "timeout": timeout or self.timeout, "memory_mb": self.memory_mb})

    def grade_assembly(self, workspace_root: Path, timeout: float | None = None,
                       only_mine: bool = False) -> ExerciseResult:
        """Check that the learner's modules in a workspace work together as one GPT: those that pass, with the
        reference filling in the rest (as a run does), or every one of theirs with `only_mine`."""
        kind = "assembly-mine" if only_mine else "assembly"
        return self._request({"kind": kind, "exercise": "assembled", "file": str(Path(workspace_root).resolve()),
                              "timeout": timeout or self.timeout, "memory_mb": self.memory_mb})

    def _request(self, request: dict) -> ExerciseResult:
        exercise_id = request["exercise"]
        if self.mode == "spawn":
            with self._lock:  # one grade at a time, as with the server
                return ExerciseResult.from_wire(grading_server.grade_spawned(
                    request["exercise"], request["file"], float(request["timeout"]), int(request["memory_mb"]),
                    request.get("kind", "exercise")))
        with self._lock:
            for attempt in range(2):
                self.start()
                try:
                    self._proc.stdin.write(json.dumps(request) + "\n")
                    self._proc.stdin.flush()
                    line = self._proc.stdout.readline()
                except (BrokenPipeError, OSError):
                    line = ""
                if line:
                    return ExerciseResult.from_wire(json.loads(line))
                self.close()  # the server died: start a fresh one and try once more
        return ExerciseResult(exercise_id, "crashed", message="The grading process stopped unexpectedly.")

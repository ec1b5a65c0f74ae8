"""The client side of grading: start the warm grading server, send it exercises, read results back.

The CLI, the TUI's worker and the tests all grade through `GradingServer`. It never imports torch
itself; the server process does. If the server dies (it should not: children crash, not the server),
the next request starts a new one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from tutor.grading.results import ExerciseResult

DEFAULT_TIMEOUT = 60.0
DEFAULT_MEMORY_MB = 4096


class GradingServer:
    """A warm grading process. Use as a context manager, or call `close()`."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, memory_mb: int = DEFAULT_MEMORY_MB):
        self.timeout = timeout
        self.memory_mb = memory_mb
        self._proc: subprocess.Popen | None = None
        self._lock = threading.RLock()  # start() is called with it held, too

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            self._start()

    def _start(self) -> None:
        if self._proc and self._proc.poll() is None:
            return
        env = dict(os.environ)
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # the hidden suites need no third-party plugins
        env.setdefault("PYTHONHASHSEED", "0")
        src_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = src_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tutor.grading.server"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, env=env, start_new_session=True,
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
        return self._proc is not None and self._proc.poll() is None

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

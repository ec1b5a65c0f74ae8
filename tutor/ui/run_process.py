"""Child processes the TUI starts for `tutor run …`: build their command line, read their JSON events, stop them.

Training and generation never run inside the UI process: a child can always be stopped (SIGINT asks it to
save a checkpoint and exit; SIGKILL if it ignores that) and cannot freeze the interface. This module is plain
process plumbing, without Textual; the Train and Playground screens read `ChildRun.events()` in a worker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from tutor import portable

DEFAULT_RUN_PREFIX: tuple[str, ...] = (sys.executable, "-m", "tutor", "run")


@dataclass(frozen=True)
class RunLauncher:
    """Builds `tutor run …` command lines. Tests swap `prefix` for a fake run script."""

    prefix: tuple[str, ...] = DEFAULT_RUN_PREFIX

    def pretrain(self, workspace: Path, *, config: str = "tiny", data: str = "builtin",
                 epochs: int | None = None, device: str = "auto") -> list[str]:
        argv = [*self.prefix, "pretrain", "--config", config, "--data", data, "--events"]
        if epochs:
            argv += ["--epochs", str(epochs)]
        if device and device != "auto":
            argv += ["--device", device]
        return argv + ["--workspace", str(workspace)]

    def generate(self, workspace: Path, *, weights: str, prompt: str, max_new_tokens: int,
                 temperature: float, top_k: int) -> list[str]:
        """`top_k` 0 keeps every token (the run's own convention)."""
        return [*self.prefix, "generate", "--weights", weights, "--prompt", prompt,
                "--max-new-tokens", str(max_new_tokens), "--temperature", f"{temperature:g}",
                "--top-k", str(top_k), "--events", "--workspace", str(workspace)]

    def classify_text(self, workspace: Path, *, model: str, text: str) -> list[str]:
        """Label one message with a trained classifier (`model`: the run folder of a finished classify run)."""
        return [*self.prefix, "classify", "--model", model, "--text", text, "--events", "--workspace", str(workspace)]

    def chat(self, workspace: Path, *, model: str, instruction: str, input_text: str = "",
             response_tokens: int | None = None) -> list[str]:
        """One instruction (and its optional input) answered by an instruct run's model, Alpaca-prompted."""
        argv = [*self.prefix, "instruct", "--model", model, "--instruction", instruction]
        if input_text:
            argv += ["--input", input_text]
        if response_tokens:
            argv += ["--response-tokens", str(response_tokens)]
        return argv + ["--events", "--workspace", str(workspace)]

    def classify(self, workspace: Path, *, data: str = "builtin", init: str = "scratch", config: str | None = "tiny",
                 trainable: str | None = None, token: str = "last", epochs: int | None = None,
                 device: str = "auto") -> list[str]:
        """`config` sizes a scratch model (left out for any other init); `trainable` None: the run's default."""
        argv = [*self.prefix, "classify", "--data", data, "--init", init, "--events"]
        if init == "scratch" and config:
            argv += ["--config", config]
        if trainable:
            argv += ["--trainable", trainable]
        if token and token != "last":
            argv += ["--token", token]
        return argv + _common(epochs, device, workspace)

    def instruct(self, workspace: Path, *, data: str = "builtin", init: str = "scratch", config: str | None = "tiny",
                 epochs: int | None = None, mask_prompt: bool = False, device: str = "auto") -> list[str]:
        argv = [*self.prefix, "instruct", "--data", data, "--init", init, "--events"]
        if init == "scratch" and config:
            argv += ["--config", config]
        if mask_prompt:
            argv += ["--mask-prompt"]
        return argv + _common(epochs, device, workspace)

    def judge(self, workspace: Path, *, responses: str, api: str = "ollama", model: str | None = None,
              host: str | None = None) -> list[str]:
        """`model` and `host` None: the run's defaults (llama3 at $OLLAMA_HOST or localhost; openai: the server's
        one model at localhost:8080)."""
        argv = [*self.prefix, "judge", responses, "--events"]
        if api != "ollama":
            argv += ["--api", api]
        if model:
            argv += ["--model", model]
        if host:
            argv += ["--host", host]
        return argv + ["--workspace", str(workspace)]


def _common(epochs: int | None, device: str, workspace: Path) -> list[str]:
    argv: list[str] = []
    if epochs:
        argv += ["--epochs", str(epochs)]
    if device and device != "auto":
        argv += ["--device", device]
    return argv + ["--workspace", str(workspace)]


def parse_event(line: str) -> dict:
    """One stdout line as an event; a line that is not a JSON object becomes a `log` event."""
    line = line.rstrip("\n")
    try:
        event = json.loads(line)
    except ValueError:
        return {"event": "log", "text": line}
    if not isinstance(event, dict) or "event" not in event:
        return {"event": "log", "text": line}
    return event


class ChildRun:
    """One `tutor run …` child process that speaks JSON lines on stdout."""

    def __init__(self, argv: list[str], cwd: Path | None = None):
        self.argv = list(argv)
        self.cwd = cwd
        self.proc: subprocess.Popen | None = None
        self._stderr: deque[str] = deque(maxlen=40)
        self.stop_requested = False

    def start(self) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8")  # UTF-8 on Windows consoles too
        self.proc = subprocess.Popen(
            self.argv, cwd=self.cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="replace", bufsize=1, env=env,
            **portable.new_process_group(),  # a Ctrl-C meant for the editor or the shell never reaches it
        )
        threading.Thread(target=self._drain_stderr, daemon=True).start()

    def _drain_stderr(self) -> None:
        assert self.proc and self.proc.stderr
        for line in self.proc.stderr:
            self._stderr.append(line.rstrip("\n"))

    def events(self) -> Iterator[dict]:
        """Each event the child prints, until it closes stdout."""
        assert self.proc and self.proc.stdout
        for line in self.proc.stdout:
            if line.strip():
                yield parse_event(line)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """Ask the child to stop as Ctrl-C would (SIGINT; CTRL_BREAK on Windows): a run saves a checkpoint and exits."""
        self.stop_requested = True
        if self.running:
            portable.interrupt(self.proc)

    def kill(self) -> None:
        if self.running:
            portable.kill_group(self.proc)

    def wait(self, timeout: float | None = None) -> int | None:
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def shutdown(self, grace_s: float = 10.0) -> None:
        """Stop politely, then for good: used when the app quits with a run still going."""
        if not self.running:
            return
        self.stop()
        if self.wait(grace_s) is None:
            self.kill()
            self.wait(2)

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def stderr_tail(self, lines: int = 12) -> str:
        return "\n".join(list(self._stderr)[-lines:])

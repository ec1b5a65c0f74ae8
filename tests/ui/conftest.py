"""Fixtures for the TUI tests: a fresh workspace, a fake `tutor run`, and a way to drive the app."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Awaitable, Callable

import pytest

from tutor import curriculum, paths
from tutor.ui.run_process import RunLauncher
from tutor.workspace import init_workspace

HERE = Path(__file__).resolve().parent
FAKE_RUN = HERE / "fake_run.py"
FIXTURE_COURSE = HERE / "fixtures" / "course"


def load_fixture_course() -> curriculum.Curriculum:
    text = (FIXTURE_COURSE / "curriculum.toml").read_text(encoding="utf-8")
    return curriculum.parse_curriculum(text, check_files=False)


@pytest.fixture
def course(monkeypatch) -> curriculum.Curriculum:
    """Swap the real course for a small frozen one (tests/ui/fixtures/course): the real curriculum grows while
    the course is written, and these tests are about the interface, not the content."""
    fixture = load_fixture_course()
    monkeypatch.setattr(paths, "content_root", lambda: FIXTURE_COURSE)
    monkeypatch.setattr(curriculum, "load", lambda: fixture)
    return fixture


@pytest.fixture
def workspace(course, tmp_path):
    """A fresh workspace of the fixture course."""
    return init_workspace(tmp_path / "gpt-workspace")


@pytest.fixture
def real_workspace(tmp_path):
    """A fresh workspace of the real course (for grading the real exercises)."""
    return init_workspace(tmp_path / "gpt-workspace")


@pytest.fixture
def fake_launcher() -> RunLauncher:
    return RunLauncher(prefix=(sys.executable, str(FAKE_RUN)))


def drive(scenario: Callable[[], Awaitable[None]]) -> None:
    """Run an async Pilot scenario from a plain (sync) test."""
    asyncio.run(scenario())


async def wait_until(pilot, predicate: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    """Let the app run until `predicate()` holds (workers finish, messages arrive), or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        await pilot.pause(0.05)


def text_of(widget) -> str:
    """The plain text a Static-like widget shows."""
    return str(getattr(widget, "content", None) or widget.render())


async def keep_saving(pilot, file: Path, text: str, predicate: Callable[[], bool], timeout: float = 30.0,
                      what: str = "") -> None:
    """Write `file` until `predicate()` holds: a watcher that started listening after a save still sees the next.
    Each write changes the content, so every save is new to the watcher."""
    deadline = time.monotonic() + timeout
    n = 0
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        file.write_text(text + ("\n" * (n % 2)))  # alternate the content, so each write is a change
        n += 1
        step_end = time.monotonic() + 1.0
        while not predicate() and time.monotonic() < step_end:
            await pilot.pause(0.05)

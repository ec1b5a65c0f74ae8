"""Blocking calls from thread workers that must not hold the app open when it quits.

A Textual thread worker runs in asyncio's default executor, whose threads are joined when the app exits: a
worker stuck in a blocking read (a grading request, a server that is still importing torch) would keep the
terminal hanging. `call_cancellable` runs the call in a daemon thread instead and returns control to the
worker as soon as it is cancelled.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, TypeVar

from textual.worker import get_current_worker

T = TypeVar("T")


class Cancelled(Exception):
    """The worker that waited for the call was cancelled (the app is quitting, or newer work replaced it)."""


def call_cancellable(fn: Callable[[], T], poll_s: float = 0.05, overdue_s: float | None = None,
                     on_overdue: Callable[[], None] | None = None) -> T:
    """Call `fn()` in a daemon thread; wait for it unless the current worker is cancelled first.

    If it is still running after `overdue_s` seconds, `on_overdue()` is called once (in its own thread) and the
    wait goes on: it is the caller's chance to unblock `fn`, e.g. by killing the process it waits for.
    """
    worker = get_current_worker()
    box: dict[str, object] = {}
    done = threading.Event()

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as e:  # handed to the waiting worker below
            box["error"] = e
        finally:
            done.set()

    threading.Thread(target=target, daemon=True, name=f"tutor-{getattr(fn, '__name__', 'call')}").start()
    deadline = None if overdue_s is None else time.monotonic() + overdue_s
    while not done.wait(poll_s):
        if worker.is_cancelled:
            raise Cancelled()
        if deadline is not None and time.monotonic() > deadline and on_overdue is not None:
            deadline = None
            threading.Thread(target=on_overdue, daemon=True, name="tutor-overdue").start()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]

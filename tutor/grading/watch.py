"""Watch one file for saves, debounced, with an announced polling fallback. No torch, no UI.

`watch_file` yields typed events: `Changed` after each save, `Polling` once when it checks the file by polling
(asked for, or because file events are not available here). Front ends branch on the type, never on wording.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Union

DEBOUNCE_MS = 300
POLL_S = 0.5


@dataclass(frozen=True)
class Changed:
    """The file was saved (debounced)."""


@dataclass(frozen=True)
class Polling:
    """From now on the file is checked every `interval_s` seconds instead of through file events."""

    asked: bool  # the caller asked for polling; else file events are not available and `reason` says why
    interval_s: float = POLL_S
    reason: str = ""

    def describe(self) -> str:
        if self.asked:
            return f"Polling for changes every {self.interval_s} s."
        return f"File events are not available ({self.reason}); checking for changes every {self.interval_s} s instead."


WatchEvent = Union[Changed, Polling]


def _poll(file: Path, stop_event=None) -> Iterator[Changed]:
    last = file.stat().st_mtime_ns if file.exists() else 0
    while not (stop_event is not None and stop_event.is_set()):
        if stop_event is not None:
            if stop_event.wait(POLL_S):
                return
        else:
            time.sleep(POLL_S)
        now = file.stat().st_mtime_ns if file.exists() else 0
        if now != last:
            time.sleep(DEBOUNCE_MS / 1000)  # let the editor finish writing
            last = file.stat().st_mtime_ns if file.exists() else 0
            yield Changed()


def watch_file(file: Path, force_polling: bool = False, stop_event=None) -> Iterator[WatchEvent]:
    """Yield `Changed()` after each (debounced) change of `file`; `Polling` once if it polls."""
    file = Path(file).resolve()
    if not force_polling:
        try:
            import watchfiles

            # Watch the folder: editors often save by writing a new file and renaming it over the old one.
            for changes in watchfiles.watch(file.parent, debounce=DEBOUNCE_MS, stop_event=stop_event,
                                            raise_interrupt=True):
                if any(Path(p).resolve() == file for _, p in changes):
                    yield Changed()
            return
        except (ImportError, OSError) as e:
            yield Polling(asked=False, reason=str(e))
    else:
        yield Polling(asked=True)
    yield from _poll(file, stop_event)

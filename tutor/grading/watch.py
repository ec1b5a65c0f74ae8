"""Watch one file for saves, debounced, with an announced polling fallback. No torch, no UI."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

DEBOUNCE_MS = 300
POLL_S = 0.5


def _poll(file: Path, stop_event=None) -> Iterator[None]:
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
            yield None


def watch_file(file: Path, force_polling: bool = False, stop_event=None) -> Iterator[str | None]:
    """Yield None after each (debounced) change of `file`; a string once if we fall back to polling."""
    file = Path(file).resolve()
    if not force_polling:
        try:
            import watchfiles

            # Watch the folder: editors often save by writing a new file and renaming it over the old one.
            for changes in watchfiles.watch(file.parent, debounce=DEBOUNCE_MS, stop_event=stop_event,
                                            raise_interrupt=True):
                if any(Path(p).resolve() == file for _, p in changes):
                    yield None
            return
        except (ImportError, OSError) as e:
            yield f"File events are not available ({e}); checking for changes every {POLL_S} s instead."
    else:
        yield f"Polling for changes every {POLL_S} s."
    yield from _poll(file, stop_event)

"""Where the course content and caches live, for a source checkout and for an installed wheel alike.

No heavy imports here: the CLI and the TUI's first screen read it.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def content_root() -> Path:
    """The folder holding `lessons/`, `exercises/` and `solutions/`.

    In a source checkout (editable install) that is the repository root; a wheel carries them under
    `tutor/_content/`.
    """
    repo = PACKAGE_DIR.parent
    if (repo / "solutions").is_dir() and (repo / "lessons").is_dir():
        return repo
    return PACKAGE_DIR / "_content"


def lessons_dir() -> Path:
    return content_root() / "lessons"


def stubs_dir() -> Path:
    return content_root() / "exercises"


def solutions_dir() -> Path:
    return content_root() / "solutions"


def checks_dir() -> Path:
    return PACKAGE_DIR / "checks"


def cache_dir() -> Path:
    """`$TUTOR_CACHE`, else the platform's user cache folder."""
    env = os.environ.get("TUTOR_CACHE")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("tutor"))

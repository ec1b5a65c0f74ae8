"""The texts and files a run can use: built-in samples that ship with the package, and pinned remote files.

`load_text("builtin" | "verdict" | PATH)` is what `tutor run pretrain --data` calls. Remote files are
described once in `REMOTE_FILES` (name, URL, SHA-256) and fetched into `$TUTOR_CACHE/data/` on first use
through `tutor.data.download`, verified, then reused. Nothing here touches the network unless asked to fetch
a file that is not cached yet; `TUTOR_OFFLINE=1` forbids even that. No torch, no UI.

Where a file comes from can be changed without touching code: `TUTOR_MIRROR=URL` fetches every remote file
from `URL/<file name>` instead (a local mirror, or the test suite's server on 127.0.0.1).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from tutor import paths
from tutor.data.download import (ChecksumError, DownloadError, OfflineError, Progress, download_file,
                                 sha256_file)

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"


@dataclass(frozen=True)
class RemoteFile:
    name: str  # what the learner types: `--data verdict`, `tutor download verdict`
    filename: str  # the name in the cache (and on a mirror)
    url: str
    sha256: str
    size: Optional[int]
    description: str


REMOTE_FILES: dict[str, RemoteFile] = {
    "verdict": RemoteFile(
        name="verdict",
        filename="the-verdict.txt",
        url="https://raw.githubusercontent.com/rasbt/LLMs-from-scratch/main/ch02/01_main-chapter-code/the-verdict.txt",
        sha256="b41e41a68f0398a3154ae69e2e4c0e2694e17fe0d66730536837f1b01935b31f",
        size=20479,
        description="The Verdict, a short story by Edith Wharton (1908, public domain), the course's training text",
    ),
    "book": RemoteFile(
        name="book",
        filename="instruction-data.json",
        url="https://raw.githubusercontent.com/rasbt/LLMs-from-scratch/main/ch07/01_main-chapter-code/"
            "instruction-data.json",
        sha256="7e09a9af353722ca15c18bc580f093f9c39d3178335a75177319cb1e1d163944",
        size=203524,
        description="the course's 1,100 instruction/input/output examples (Apache-2.0), for tutor run instruct",
    ),
}

BUILTIN_TEXTS = {"builtin": "stories.txt"}


class DataError(RuntimeError):
    """A data source cannot be used; the message says what to do instead."""


def data_cache_dir() -> Path:
    return paths.cache_dir() / "data"


def cached_path(remote: RemoteFile) -> Path:
    return data_cache_dir() / remote.filename


def source_url(remote: RemoteFile) -> str:
    mirror = os.environ.get("TUTOR_MIRROR")
    return f"{mirror.rstrip('/')}/{remote.filename}" if mirror else remote.url


def remote_file(name: str) -> RemoteFile:
    try:
        return REMOTE_FILES[name]
    except KeyError:
        raise DataError(f"unknown file {name!r}; known: {', '.join(REMOTE_FILES)}") from None


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _is_verified(path: Path, remote: RemoteFile) -> bool:
    """A cached file is trusted when a marker records its hash, size and mtime; otherwise it is hashed now."""
    if not path.is_file():
        return False
    st = path.stat()
    try:
        mark = json.loads(_marker(path).read_text())
        if mark == {"sha256": remote.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}:
            return True
    except (OSError, ValueError):
        pass
    if sha256_file(path) != remote.sha256:
        return False
    _write_marker(path, remote)
    return True


def _write_marker(path: Path, remote: RemoteFile) -> None:
    st = path.stat()
    tmp = _marker(path).with_suffix(".tmp")
    tmp.write_text(json.dumps({"sha256": remote.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}))
    os.replace(tmp, _marker(path))


def offline_advice(remote: RemoteFile) -> str:
    dest = cached_path(remote)
    return (f"To go on without it: use `--data builtin` (a story corpus that ships with tutor), or download "
            f"{remote.url} by other means and run `tutor download {remote.name} --from FILE`, or place it at "
            f"{dest} yourself (SHA-256 {remote.sha256}).")


def fetch(name: str | RemoteFile, *, url: Optional[str] = None, progress: Optional[Progress] = None,
          timeout: float = 30.0) -> Path:
    """The verified local copy of a remote file, downloading it into the cache on first use.

    Args:
        name: a key of `REMOTE_FILES`, or a `RemoteFile`.
        url: fetch from here instead of the pinned URL (the checksum still applies).
        progress: byte-progress callback for the download, if one happens.

    Raises:
        DataError: offline, HTTP error or checksum mismatch, with a message that says what to do.
    """
    remote = name if isinstance(name, RemoteFile) else remote_file(name)
    dest = cached_path(remote)
    if _is_verified(dest, remote):
        return dest
    # A copy that fails its checksum is never used; a verified download replaces it (atomically).
    bad = f"The copy at {dest} does not match the pinned SHA-256. " if dest.exists() else ""
    if os.environ.get("TUTOR_OFFLINE"):
        raise DataError(f"{bad}{remote.filename} is not in the cache and TUTOR_OFFLINE is set. "
                        + offline_advice(remote))
    source = url or source_url(remote)
    try:
        download_file(source, dest, remote.sha256, size=remote.size, progress=progress, timeout=timeout)
    except OfflineError as e:
        raise DataError(f"{bad}Could not download {remote.filename}: {e}. Are you offline? "
                        + offline_advice(remote)) \
            from None
    except ChecksumError as e:
        raise DataError(str(e)) from None
    except DownloadError as e:
        raise DataError(f"{bad}Could not download {remote.filename}: {e}. " + offline_advice(remote)) from None
    _write_marker(dest, remote)
    return dest


def import_file(name: str, source: Path | str) -> Path:
    """Verify a hand-downloaded copy of a remote file and copy it into the cache (atomically)."""
    remote = remote_file(name)
    source = Path(source).expanduser()
    if not source.is_file():
        raise DataError(f"{source} does not exist or is not a file.")
    digest = sha256_file(source)
    if digest != remote.sha256:
        raise DataError(f"{source} is not the expected {remote.filename}: its SHA-256 is {digest}, "
                        f"expected {remote.sha256}.")
    dest = cached_path(remote)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + f".{os.getpid()}.tmp")
    shutil.copyfile(source, tmp)
    os.replace(tmp, dest)
    _write_marker(dest, remote)
    return dest


def builtin_text(name: str = "builtin") -> str:
    return (BUILTIN_DIR / BUILTIN_TEXTS[name]).read_text(encoding="utf-8")


@dataclass(frozen=True)
class TextSource:
    spec: str  # what was asked for: "builtin", "verdict" or an absolute path
    label: str  # for people: "built-in stories", "the-verdict.txt", the path
    text: str
    known_as: Optional[str] = None  # "builtin", or the REMOTE_FILES name whose pinned bytes these are


def load_text(spec: str, *, progress: Optional[Progress] = None) -> TextSource:
    """The training text for `--data SPEC`: `builtin`, a name in `REMOTE_FILES` (downloaded), or a file path."""
    if spec in BUILTIN_TEXTS:
        return TextSource(spec, "built-in stories (tutor/data/builtin)", builtin_text(spec), known_as=spec)
    if spec in REMOTE_FILES:
        path = fetch(spec, progress=progress)
        return TextSource(spec, REMOTE_FILES[spec].filename, path.read_text(encoding="utf-8"), known_as=spec)
    path = Path(spec).expanduser()
    if not path.is_file():
        choices = ", ".join([*BUILTIN_TEXTS, *REMOTE_FILES])
        raise DataError(f"--data {spec}: no such file, and not one of {choices}.")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start}).") from None
    digest = sha256_file(path)
    known = next((r.name for r in REMOTE_FILES.values() if r.sha256 == digest), None)
    return TextSource(str(path.resolve()), str(path), text, known_as=known)

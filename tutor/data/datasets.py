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
from typing import Callable, Optional

from tutor import paths
from tutor.data import gpt2_files
from tutor.data.download import (ChecksumError, DownloadError, OfflineError, Progress, ValidationError,
                                 announced_sha256, download_file, sha256_file)

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"


@dataclass(frozen=True)
class RemoteFile:
    name: str  # what the learner types: `--data verdict`, `tutor download verdict`
    filename: str  # the name in the cache (and on a mirror)
    url: str
    sha256: Optional[str]  # None: the SHA-256 the server announces (the Hub's X-Linked-Etag), recorded on use
    size: Optional[int]
    description: str
    validate: Optional[Callable[[Path], None]] = None  # raises if the (checksummed) content is unusable
    kind: str = "data"  # "data" (a `--data` source) or "weights"


def _gpt2(name: str, repo: str, revision: str, sha256: Optional[str], size: Optional[int], params: str,
          source: str) -> RemoteFile:
    """OpenAI's GPT-2 `name` from the Hugging Face Hub, at a fixed revision (never `main`)."""
    return RemoteFile(
        name=name, filename=f"{name}.safetensors",
        url=f"https://huggingface.co/{repo}/resolve/{revision}/model.safetensors",
        sha256=sha256, size=size, kind="weights",
        description=f"OpenAI's GPT-2 {name.split('-')[1]} ({params} parameters), {repo}@{revision[:8]}; {source}",
        validate=lambda path: gpt2_files.check_header(path, name),
    )


REMOTE_FILES: dict[str, RemoteFile] = {
    "verdict": RemoteFile(
        name="verdict",
        filename="the-verdict.txt",
        url="https://raw.githubusercontent.com/rasbt/LLMs-from-scratch/main/ch02/01_main-chapter-code/the-verdict.txt",
        sha256="b41e41a68f0398a3154ae69e2e4c0e2694e17fe0d66730536837f1b01935b31f",
        size=20479,
        description="The Verdict, a short story by Edith Wharton (1908, public domain), the course's training text",
    ),
    # Revisions, sizes and hashes: what several independent public records agree on (see the pins in
    # tests/test_gpt2_download.py). Without an agreed hash, the Hub's own SHA-256 is checked and recorded.
    "gpt2-small": _gpt2("gpt2-small", "openai-community/gpt2", "607a30d783dfa663caf39e06633721c8d4cfcd7e",
                        "248dfc3911869ec493c76e65bf2fcf7f615828b0254c12b473182f0f81d3a707", 548_105_171, "124M",
                        "revision, size and SHA-256 pinned"),
    "gpt2-medium": _gpt2("gpt2-medium", "openai-community/gpt2-medium", "6dcaa7a952f72f9298047fd5137cd6e4f05f41da",
                         None, None, "355M", "revision pinned; SHA-256 as the Hub reports it"),
    "gpt2-large": _gpt2("gpt2-large", "openai-community/gpt2-large", "32b71b12589c2f8d625668d2335a01cac3249519",
                        None, None, "774M", "revision pinned; SHA-256 as the Hub reports it"),
    "gpt2-xl": _gpt2("gpt2-xl", "openai-community/gpt2-xl", "15ea56dee5df4983c59b2538573817e1667135e2",
                     "0f8b28eb05a8075f48b61b6f35332978c74fc7763fa9fb4051a1c30511736a6a", None, "1558M",
                     "revision and SHA-256 pinned"),
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


def read_marker(path: Path) -> dict:
    """What `_write_marker` recorded beside a cached file ({} if nothing)."""
    try:
        mark = json.loads(_marker(path).read_text())
        return mark if isinstance(mark, dict) else {}
    except (OSError, ValueError):
        return {}


def _is_verified(path: Path, remote: RemoteFile) -> bool:
    """A cached file is trusted when a marker records its hash, size and mtime; otherwise it is hashed now.

    Files without a pinned hash are trusted only through the marker written when they were verified.
    """
    if not path.is_file():
        return False
    st = path.stat()
    mark = read_marker(path)
    if (mark.get("size"), mark.get("mtime_ns")) == (st.st_size, st.st_mtime_ns) and mark.get("sha256") and (
            remote.sha256 is None or mark["sha256"] == remote.sha256):
        return True
    if remote.sha256 is None or sha256_file(path) != remote.sha256:
        return False
    _write_marker(path, remote.sha256)
    return True


def is_cached(name: str) -> bool:
    """Whether `name`'s file is in the cache with a marker that vouches for it (same size and mtime, and the
    pinned hash where there is one). Cheap: reads the marker, never hashes the file."""
    remote = remote_file(name)
    path = cached_path(remote)
    try:
        st = path.stat()
    except OSError:
        return False
    mark = read_marker(path)
    return (mark.get("size"), mark.get("mtime_ns")) == (st.st_size, st.st_mtime_ns) and bool(mark.get("sha256")) \
        and remote.sha256 in (None, mark["sha256"])


def _write_marker(path: Path, sha256: str, source: str = "pinned") -> None:
    """Record the verified hash beside the file, with where the expected value came from."""
    st = path.stat()
    tmp = _marker(path).with_suffix(".tmp")
    tmp.write_text(json.dumps({"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                               "source": source}))
    os.replace(tmp, _marker(path))


def offline_advice(remote: RemoteFile) -> str:
    dest = cached_path(remote)
    if remote.kind == "weights":
        return (f"Download {remote.url} by other means (a browser, curl) and run "
                f"`tutor download {remote.name} --from FILE`; the file is checked before it is used.")
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
        expected, origin = remote.sha256, "pinned"
        if expected is None:
            expected, origin = announced_sha256(source, timeout=timeout), f"announced by {source}"
        download_file(source, dest, expected, size=remote.size, progress=progress, timeout=timeout,
                      validate=remote.validate)
    except OfflineError as e:
        raise DataError(f"{bad}Could not download {remote.filename}: {e}. Are you offline? "
                        + offline_advice(remote)) \
            from None
    except (ChecksumError, ValidationError) as e:
        raise DataError(str(e)) from None
    except DownloadError as e:
        raise DataError(f"{bad}Could not download {remote.filename}: {e}. " + offline_advice(remote)) from None
    _write_marker(dest, expected, origin)
    return dest


def first_usable_download(urls, dest: Path, use: Callable[[Path, str], Path], *, what: str, advice: str,
                          progress: Optional[Progress] = None, timeout: float = 30.0) -> Path:
    """For files verified by their content, not a pinned hash: download each URL in turn to `dest` and return
    `use(dest, url)` for the first one `use` accepts (it raises DataError otherwise). `dest` is deleted
    either way; a transfer that broke off keeps its `.part` to be continued next time.

    Raises:
        DataError: no URL gave a usable file; the message lists why, then `advice`.
    """
    problems = []
    for url in urls:
        try:
            download_file(url, dest, None, progress=progress, timeout=timeout)
        except DownloadError as e:  # OfflineError included
            problems.append(str(e))
            continue
        try:
            return use(dest, url)
        except DataError as e:
            problems.append(str(e))
        finally:
            dest.unlink(missing_ok=True)
    raise DataError(f"Could not download {what} ({'; '.join(problems)}). {advice}")


def import_file(name: str, source: Path | str) -> Path:
    """Verify a hand-downloaded copy of a remote file and copy it into the cache (atomically)."""
    remote = remote_file(name)
    source = Path(source).expanduser()
    if not source.is_file():
        raise DataError(f"{source} does not exist or is not a file.")
    if remote.validate is not None:
        try:
            remote.validate(source)
        except Exception as e:
            raise DataError(f"{source} is not a usable {remote.filename}: {e}") from None
    digest = sha256_file(source)
    expected, origin = remote.sha256, "pinned"
    if expected is None:  # ask the Hub; a learner importing by hand may well be offline
        try:
            expected, origin = announced_sha256(source_url(remote), timeout=15), f"announced by {source_url(remote)}"
        except DownloadError:
            expected, origin = digest, "header check only (the Hub could not be asked for its SHA-256)"
    if digest != expected:
        raise DataError(f"{source} is not the expected {remote.filename}: its SHA-256 is {digest}, "
                        f"expected {expected}.")
    dest = cached_path(remote)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + f".{os.getpid()}.tmp")
    shutil.copyfile(source, tmp)
    os.replace(tmp, dest)
    _write_marker(dest, expected, origin)
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
    if spec in REMOTE_FILES and REMOTE_FILES[spec].kind == "data":
        path = fetch(spec, progress=progress)
        return TextSource(spec, REMOTE_FILES[spec].filename, path.read_text(encoding="utf-8"), known_as=spec)
    path = Path(spec).expanduser()
    if not path.is_file():
        choices = ", ".join([*BUILTIN_TEXTS, *(k for k, r in REMOTE_FILES.items() if r.kind == "data")])
        raise DataError(f"--data {spec}: no such file, and not one of {choices}.")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start}).") from None
    digest = sha256_file(path)
    known = next((r.name for r in REMOTE_FILES.values() if r.sha256 == digest), None)
    return TextSource(str(path.resolve()), str(path), text, known_as=known)

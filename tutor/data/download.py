"""Fetching one file over HTTP(S) into a given path: resumable, verified, atomic. Standard library only.

`download_file(url, dest, sha256)` writes to `dest.part` first, continues an earlier partial transfer with an
HTTP `Range` request (and retries a connection that drops mid-file the same way), checks the SHA-256, and only
then renames the file into place, so a reader never sees half a file or an unverified one. It knows nothing
about which files exist or where the cache is (that is `tutor.data.datasets`) and prints nothing itself:
progress goes to a callback (`rich_progress()` makes one that draws a rich progress bar).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Iterator, Optional

Progress = Callable[[int, Optional[int]], None]  # (bytes on disk so far, total bytes or None)

CHUNK = 1 << 16
USER_AGENT = "tutor-gpt-course/0.1 (+urllib)"


class DownloadError(RuntimeError):
    """The server answered, but not with the file we want (HTTP error, wrong checksum, ...)."""


class ChecksumError(DownloadError):
    """The bytes arrived but their SHA-256 is not the pinned one; nothing was kept."""


class OfflineError(DownloadError):
    """The server could not be reached at all (no network, DNS failure, refused connection, timeout)."""


class ValidationError(DownloadError):
    """The bytes match their checksum but are not what the caller accepts (a `validate` hook said why)."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path`, so two processes never append to the same `.part` (any OS)."""
    from tutor.portable import file_lock

    with file_lock(path):
        yield


def _open(url: str, start: int, timeout: float):
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if start:
        headers["Range"] = f"bytes={start}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


def _total_size(response, start: int) -> Optional[int]:
    """The full file size from Content-Range (206) or Content-Length (200), if the server says."""
    content_range = response.headers.get("Content-Range", "")
    if "/" in content_range and not content_range.endswith("/*"):
        try:
            return int(content_range.rsplit("/", 1)[1])
        except ValueError:
            return None
    length = response.headers.get("Content-Length")
    if length is not None and length.isdigit():
        return int(length) + (start if response.status == 206 else 0)
    return None


def _range_start(response) -> Optional[int]:
    content_range = response.headers.get("Content-Range", "")  # "bytes 100-199/200"
    try:
        return int(content_range.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def download_file(url: str, dest: Path | str, sha256: Optional[str], *, size: Optional[int] = None,
                  progress: Optional[Progress] = None, timeout: float = 30.0, retries: int = 3,
                  validate: Optional[Callable[[Path], None]] = None) -> Path:
    """Download `url` to `dest`, verified against `sha256`; return `dest`.

    Args:
        url: http(s) or file URL.
        dest: final path; its folder is created. An existing `dest` is replaced only by verified bytes.
        sha256: the expected hex digest (lower case); None for a file whose hash is not known, which the
            caller must then verify by its content.
        size: the expected size in bytes, if known (used for the progress total before the server answers).
        progress: called as `progress(bytes_done, total_or_None)` as bytes arrive.
        timeout: seconds to wait for the server on connect and on each read.
        retries: how many times a transfer that breaks off is continued (with a Range request).
        validate: called with the verified `.part` file before it is renamed into place; any exception it
            raises discards the file (ValidationError with its message).

    Raises:
        OfflineError: the server cannot be reached (message names the URL and the reason).
        ChecksumError: the file arrived but does not match `sha256` (the partial file is deleted).
        ValidationError: `validate` rejected the file (it is deleted).
        DownloadError: any other failure, such as an HTTP 404.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    with _locked(dest.with_name(dest.name + ".lock")):
        attempt = 0
        while True:
            try:
                _transfer(url, part, size, progress, timeout)
                break
            except _Broken as e:
                attempt += 1
                if attempt > retries:
                    have = part.stat().st_size if part.exists() else 0
                    raise DownloadError(f"The download of {url} kept breaking off ({e}); run the command again "
                                        f"to continue from {have} bytes.") from None
                time.sleep(min(0.2 * attempt, 1.0))
        digest = sha256_file(part)
        if sha256 is not None and digest != sha256.lower():
            part.unlink(missing_ok=True)
            raise ChecksumError(f"{url} did not match its pinned SHA-256 (expected {sha256}, got {digest}); "
                                f"the file was discarded. The server may serve a different version of it.")
        if validate is not None:
            try:
                validate(part)
            except Exception as e:
                part.unlink(missing_ok=True)
                raise ValidationError(f"{url} passed its checksum but was rejected: {e}") from None
        with open(part, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(part, dest)  # atomic: dest is either absent/old or complete and verified
    return dest


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # keep the redirect response itself: its headers describe the file


def announced_sha256(url: str, timeout: float = 30.0) -> str:
    """The SHA-256 a server announces for `url` without sending it: `X-Linked-Etag` (what the Hugging Face
    Hub sends with the redirect of an LFS file), else a 64-hex-digit `ETag`.

    Raises:
        OfflineError: the server cannot be reached.
        DownloadError: it answers with an error, or announces no SHA-256.
    """
    opener = urllib.request.build_opener(_NoRedirect)
    request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": USER_AGENT,
                                                                   "Accept-Encoding": "identity"})
    try:
        with opener.open(request, timeout=timeout) as response:
            headers = response.headers
    except urllib.error.HTTPError as e:
        if e.code not in (301, 302, 303, 307, 308):
            raise DownloadError(f"HTTP {e.code} ({e.reason}) for {url}") from None
        headers = e.headers
    except urllib.error.URLError as e:
        raise OfflineError(f"cannot reach {url}: {e.reason}") from None
    except (socket.timeout, TimeoutError, ConnectionError) as e:
        raise OfflineError(f"cannot reach {url}: {e}") from None
    for key in ("X-Linked-Etag", "ETag"):
        value = (headers.get(key) or "").strip().removeprefix("W/").strip('"').lower()
        if len(value) == 64 and all(c in "0123456789abcdef" for c in value):
            return value
    raise DownloadError(f"{url} does not announce a SHA-256 (no X-Linked-Etag or ETag header holding one)")


class _Broken(Exception):
    """A transfer stopped early; what we have is kept in the .part file and continued."""


def _transfer(url: str, part: Path, size: Optional[int], progress: Optional[Progress], timeout: float) -> None:
    start = part.stat().st_size if part.exists() else 0
    try:
        response = _open(url, start, timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and start:  # we asked past the end: the .part already holds everything
            return
        raise DownloadError(f"HTTP {e.code} ({e.reason}) for {url}") from None
    except urllib.error.URLError as e:
        raise OfflineError(f"cannot reach {url}: {e.reason}") from None
    except (socket.timeout, TimeoutError, ConnectionError) as e:
        raise OfflineError(f"cannot reach {url}: {e}") from None
    with response:
        status = getattr(response, "status", 200)
        if start and (status != 206 or _range_start(response) != start):
            start = 0  # the server ignored our Range and sends the whole file: start over
        total = _total_size(response, start) or size
        mode = "ab" if start else "wb"
        done = start
        if progress:
            progress(done, total)
        with open(part, mode) as f:
            try:
                while True:
                    block = response.read(CHUNK)
                    if not block:
                        break
                    f.write(block)
                    done += len(block)
                    if progress:
                        progress(done, total)
            except (OSError, http.client.HTTPException) as e:  # reset, timeout, IncompleteRead
                raise _Broken(f"{type(e).__name__} after {done} bytes") from None
    if total is not None and done < total:
        raise _Broken(f"got {done} of {total} bytes")


@contextlib.contextmanager
def rich_progress(description: str, console=None) -> Iterator[Progress]:
    """A progress callback that draws a rich progress bar (bytes, speed, time left).

    The bar appears with the first byte and disappears when the transfer completes (or the block ends), so
    the block may do other work that draws on the console before and after a download.
    """
    from rich.progress import (BarColumn, DownloadColumn, Progress as RichProgress, TextColumn,
                               TimeRemainingColumn, TransferSpeedColumn)

    state: dict = {}

    def update(done: int, total: Optional[int]) -> None:
        if "bar" not in state:
            bar = RichProgress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                               TransferSpeedColumn(), TimeRemainingColumn(), console=console, transient=True)
            state["bar"], state["task"] = bar, bar.add_task(description, total=total)
            bar.start()
        state["bar"].update(state["task"], completed=done, total=total)
        if total is not None and done >= total:
            state.pop("bar").stop()

    try:
        yield update
    finally:
        if "bar" in state:
            state.pop("bar").stop()

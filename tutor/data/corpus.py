"""Corpora of any size for `tutor run pretrain --data`: a text file or a folder of `.txt` files, tokenized once
into a cached `uint16` token file that training reads windows from, so memory stays flat as the corpus grows.

`open_corpus(spec)` says which files a `--data` value means and whether the run streams from a token file:
small texts (under `STREAM_THRESHOLD_BYTES` in all) are read whole and go through the learner's own
`create_dataloader_v1` as before; larger ones (or any text when streaming is asked for) become a
`CorpusSource` that is never loaded whole. `token_file(files)` tokenizes with GPT-2's BPE into
`$TUTOR_CACHE/tokens/<key>.bin`, keyed by the SHA-256 of the content and the tokenizer's name, written
atomically (a stopped tokenization leaves no file that is later trusted) and reused by every later run.
`TokenWindows` cuts the same windows from it that the learner's `GPTDatasetV1` cuts from the text.

Files of a folder are taken in sorted order and joined with `<|endoftext|>`, GPT-2's document separator, so
a folder is the text `a.txt + "<|endoftext|>" + b.txt + …`. No UI here, and no torch at import.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

from tutor import paths
from tutor.data.datasets import BUILTIN_DIR, BUILTIN_TEXTS, REMOTE_FILES, DataError, TextSource, fetch

STREAM_THRESHOLD_BYTES = 8 * 2**20  # above 8 MiB the text is streamed from a token file (see `open_corpus`)
SEPARATOR = "<|endoftext|>"  # between the files of a folder, as between documents in GPT-2's data
TOKENIZER = "gpt2"
FORMAT = 1  # of the token files; part of the cache key, so a new format never reads an old file
READ_BYTES = 1 << 20  # bytes read (and encoded) at a time: memory stays flat whatever the corpus size
Progress = Callable[[int, int], None]  # (bytes done, bytes in all)


@dataclass(frozen=True)
class CorpusSource(TextSource):
    """A text that is tokenized into a token file instead of being loaded: `text` holds only its opening
    (for the sample prompt), `files` the UTF-8 files it is made of, in order."""

    files: tuple[str, ...] = ()
    n_bytes: int = 0


def corpus_files(spec: str) -> tuple[list[Path], str, Optional[str]]:
    """The files `--data SPEC` means, a label for people, and the built-in or remote name it is known as.

    Raises:
        DataError: no such file or folder, or a folder without `.txt` files.
    """
    if spec in BUILTIN_TEXTS:
        return [BUILTIN_DIR / BUILTIN_TEXTS[spec]], "built-in stories (tutor/data/builtin)", spec
    if spec in REMOTE_FILES and REMOTE_FILES[spec].kind == "data":
        return [fetch(spec)], REMOTE_FILES[spec].filename, spec
    path = Path(spec).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.txt") if p.is_file())
        if not files:
            raise DataError(f"--data {spec}: the folder holds no .txt files.")
        return files, f"{path} ({len(files)} .txt files)", None
    if path.is_file():
        return [path], str(path), None
    choices = ", ".join([*BUILTIN_TEXTS, *(k for k, r in REMOTE_FILES.items() if r.kind == "data")])
    raise DataError(f"--data {spec}: no such file or folder, and not one of {choices}.")


def open_corpus(spec: str, stream: Optional[bool] = None) -> Optional[TextSource]:
    """What `--data SPEC` reads, when this module has a say: a `CorpusSource` when the run streams from a
    token file (`stream=True`, or `None` and the files hold more than `STREAM_THRESHOLD_BYTES`), the joined
    text of a small folder, or None (a small single text: `datasets.load_text` reads it, as always).

    Raises:
        DataError: see `corpus_files`; a small folder that is not UTF-8.
    """
    path = Path(spec).expanduser()
    if stream is None and spec in (*BUILTIN_TEXTS, *REMOTE_FILES) or (stream is False and not path.is_dir()):
        return None
    files, label, known = corpus_files(spec)
    n_bytes = sum(f.stat().st_size for f in files)
    if stream is None:
        stream = n_bytes > STREAM_THRESHOLD_BYTES
    resolved = spec if known else str(path.resolve())
    if stream:
        return CorpusSource(resolved, label, _opening(files[0]), known_as=known,
                            files=tuple(str(f.resolve()) for f in files), n_bytes=n_bytes)
    if not path.is_dir():
        return None
    return TextSource(resolved, label, SEPARATOR.join(_read_text(f) for f in files))


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start}).") from None


def _opening(path: Path, n_bytes: int = 4096) -> str:
    with open(path, "rb") as f:
        return f.read(n_bytes).decode("utf-8", errors="ignore")


# -- the token file -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TokenFile:
    """A tokenized corpus in the cache: `n_tokens` GPT-2 token ids as little-endian uint16 at `path`."""

    path: Path
    key: str
    n_tokens: int
    n_chars: int
    n_bytes: int
    reused: bool  # found in the cache (False: tokenized just now)
    seconds: float = 0.0  # spent tokenizing (0 when reused)

    def tokens(self):
        """The token ids as a read-only numpy memmap: pages are read on demand, never the whole file."""
        import numpy as np

        return np.memmap(self.path, dtype=np.uint16, mode="r", shape=(self.n_tokens,))


def tokens_dir() -> Path:
    return paths.cache_dir() / "tokens"


def content_key(files: Sequence[Path], tokenizer_name: str = TOKENIZER) -> str:
    """SHA-256 of the token format, the tokenizer and the files' bytes with their separators: the same text
    (in the same order) is tokenized once, whatever its files are called or wherever they lie."""
    h = hashlib.sha256(f"tutor-tokens/{FORMAT}/{tokenizer_name}\0".encode())
    for i, file in enumerate(files):
        if i:
            h.update(b"\0" + SEPARATOR.encode() + b"\0")
        with open(file, "rb") as f:
            while block := f.read(8 << 20):
                h.update(block)
    return h.hexdigest()


def cached_token_file(key: str) -> Optional[TokenFile]:
    """The token file for `key` if the cache holds a complete one: its metadata is written last, after the
    token file is in place, and must agree with its size."""
    bin_path, meta_path = tokens_dir() / f"{key}.bin", tokens_dir() / f"{key}.json"
    try:
        meta = json.loads(meta_path.read_text())
        size = bin_path.stat().st_size
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("key") != key or size != 2 * meta.get("n_tokens", -1):
        return None
    return TokenFile(bin_path, key, meta["n_tokens"], meta["n_chars"], meta["n_bytes"], reused=True)


def safe_split(text: str) -> int:
    """The largest index `i` at which `text[:i]` and `text[i:]` encode, one after the other, to exactly the
    tokens of `text`; 0 if there is none.

    GPT-2's pre-tokenizer cuts text into pieces (`'s`, ` word`, ` 123`, ` ?!`, runs of whitespace) before BPE
    merges within each piece. A whitespace character (space or newline) right after a non-whitespace one
    always starts a new piece, and no piece before it looks past it: the only look-ahead, `\\s+(?!\\S)`, belongs
    to whitespace runs, and the run before `i` ended one character earlier. So the pieces on either side are the
    same whether the text is cut there or not.
    """
    i = len(text)
    while True:
        i = max(text.rfind(" ", 0, i), text.rfind("\n", 0, i))
        if i <= 0:
            return 0
        if not text[i - 1].isspace():  # isspace covers every character the regex's \s matches
            return i


def _pieces(files: Sequence[Path], progress: Optional[Progress], total: int) -> Iterator[tuple[int, str]]:
    """The corpus as (file index, text) pieces of about READ_BYTES each, cut where `safe_split` allows; every
    file yields at least one piece (maybe empty), its last."""
    done = 0
    for index, file in enumerate(files):
        decoder = codecs.getincrementaldecoder("utf-8")()
        pending = ""
        offset = 0
        with open(file, "rb") as f:
            while True:
                block = f.read(READ_BYTES)
                try:
                    pending += decoder.decode(block, final=not block)
                except UnicodeDecodeError as e:
                    raise DataError(f"{file} is not UTF-8 text ({e.reason} near byte {offset + e.start}).") from None
                offset += len(block)
                done += len(block)
                if not block:
                    break
                cut = safe_split(pending)
                if cut:
                    yield index, pending[:cut]
                    pending = pending[cut:]
                if progress:
                    progress(done, total)
        yield index, pending


def token_file(files: Sequence[Path | str], *, progress: Optional[Progress] = None, encoding=None,
               threads: Optional[int] = None) -> TokenFile:
    """The cached token file of `files` (joined with `SEPARATOR`), tokenizing them first if need be.

    Pieces of about a MiB are encoded by `threads` threads at once (tiktoken's encoder releases the GIL) and
    written in order to a temporary file, which replaces the cache entry only when complete; the metadata that
    makes it trusted is written after it. (A text with no space or newline to cut at is encoded whole.)
    `<|endoftext|>` in the text is the end-of-text token, as in the learner's `GPTDatasetV1`.

    Args:
        progress: called with (bytes tokenized, bytes in all) as the work goes on.
        encoding: GPT-2's tiktoken encoding, if the caller has it already (default: loaded offline).
        threads: encoding threads (default: the CPU count, at most 8).

    Raises:
        DataError: a file is not UTF-8; the cache cannot be written.
    """
    import time

    import numpy as np

    files = [Path(f) for f in files]
    key = content_key(files)
    found = cached_token_file(key)
    if found is not None:
        return found
    if encoding is None:
        from tutor.data.bpe import gpt2_encoding

        encoding = gpt2_encoding()
    if encoding.name != TOKENIZER:  # the cache key names GPT-2's BPE
        raise ValueError(f"token files hold {TOKENIZER} tokens, not {encoding.name} ones")
    threads = threads or min(8, os.cpu_count() or 1)
    total = sum(f.stat().st_size for f in files)
    folder = tokens_dir()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{key}.{_writer()}.tmp"
    allowed = {SEPARATOR}
    eot = np.array([encoding.eot_token], dtype=np.uint16)
    n_tokens = n_chars = 0
    t0 = time.perf_counter()

    def encode(text: str):
        if hasattr(encoding, "encode_to_numpy"):  # tiktoken ≥ 0.8: no Python list in between
            return encoding.encode_to_numpy(text, allowed_special=allowed).astype(np.uint16)
        return np.array(encoding.encode(text, allowed_special=allowed), dtype=np.uint16)

    try:
        with open(tmp, "wb") as out, ThreadPoolExecutor(threads) as pool:
            in_flight: list = []  # futures of encoded pieces (and separator tokens), in corpus order

            def write_done(keep: int) -> None:
                nonlocal n_tokens
                while len(in_flight) > keep:
                    ids = in_flight.pop(0)
                    ids = ids if isinstance(ids, np.ndarray) else ids.result()
                    ids.tofile(out)
                    n_tokens += len(ids)

            current = 0
            for index, text in _pieces(files, progress, total):
                if index != current:  # the next file begins: the separator token between the two
                    in_flight.append(eot)
                    current = index
                n_chars += len(text)
                in_flight.append(pool.submit(encode, text))
                write_done(keep=2 * threads)
            write_done(keep=0)
        n_chars += len(SEPARATOR) * (len(files) - 1)
        os.replace(tmp, folder / f"{key}.bin")
    except OSError as e:
        raise DataError(f"Could not write the token file in {folder}: {e}") from None
    finally:
        tmp.unlink(missing_ok=True)
    meta = {"key": key, "format": FORMAT, "tokenizer": encoding.name, "n_tokens": n_tokens, "n_chars": n_chars,
            "n_bytes": total, "files": [str(f) for f in files]}
    meta_tmp = folder / f".{key}.json.{_writer()}.tmp"
    meta_tmp.write_text(json.dumps(meta, indent=1))
    os.replace(meta_tmp, folder / f"{key}.json")
    return TokenFile(folder / f"{key}.bin", key, n_tokens, n_chars, total, reused=False,
                     seconds=time.perf_counter() - t0)


def _writer() -> str:
    """This process, among all that may share the cache (machines of a multi-node run on a shared disk)."""
    import socket

    return f"{socket.gethostname()}.{os.getpid()}"


# -- windows --------------------------------------------------------------------------------------------------------
class TokenWindows:
    """The (input, target) windows of a token array, exactly as `GPTDatasetV1` cuts them from the same ids:
    starts 0, stride, 2·stride, … while `start + max_length < len(ids)`; targets shifted by one token; 1-D
    `torch.long` tensors. A torch `Dataset` (map-style); windows are read from the memmap when asked for."""

    def __init__(self, ids, max_length: int, stride: int):
        self.ids, self.max_length, self.stride = ids, max_length, stride
        self.starts = range(0, len(ids) - max_length, stride)

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, idx: int):
        import numpy as np
        import torch

        start = self.starts[idx]
        window = torch.from_numpy(np.asarray(self.ids[start:start + self.max_length + 1], dtype=np.int64))
        return window[:-1], window[1:]  # (max_length,), (max_length,)

    def batch(self, indices) -> tuple:
        """The windows `indices` stacked: inputs and targets of shape (len(indices), max_length)."""
        import numpy as np
        import torch

        rows = np.stack([np.asarray(self.ids[s:s + self.max_length + 1]) for s in (self.starts[i] for i in indices)])
        rows = torch.from_numpy(rows.astype(np.int64))
        return rows[:, :-1], rows[:, 1:]

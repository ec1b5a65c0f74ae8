"""Corpora of any size (`tutor.data.corpus`): the token file holds exactly the tokens of the whole text however
it is cut into pieces; its windows are exactly the learner's `GPTDatasetV1` windows; it is made once and
reused; a stopped tokenization leaves nothing that is trusted later; a folder of .txt files is its files
joined with <|endoftext|>; large texts stream, small ones keep the learner's dataloader.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from tutor import paths
from tutor.data import corpus
from tutor.data.bpe import gpt2_encoding
from tutor.data.datasets import DataError, builtin_text

ONE = ("Hello  world\r\n\r\n  it's  'll 'l x\n\n\nThe end.<|endoftext|> Next\t\tdoc é ü 中文字符 123 4567   \n"
       "a\u00a0b\u2003c  \n \n")  # runs of whitespace, CRLF, contractions, the separator, non-ASCII spaces
TRICKY = ONE * 40


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TUTOR_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def encode(text: str) -> list[int]:
    return gpt2_encoding().encode(text, allowed_special={"<|endoftext|>"})


def write(path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("read_bytes", [7, 64, 1 << 20])
def test_pieces_encode_to_the_tokens_of_the_whole_text(tmp_path, monkeypatch, read_bytes):
    monkeypatch.setattr(corpus, "READ_BYTES", read_bytes)
    text = TRICKY + builtin_text()
    tokens = corpus.token_file([write(tmp_path / "t.txt", text)], threads=3)
    assert np.array_equal(np.asarray(tokens.tokens()), np.array(encode(text))), "cut pieces changed the tokens"
    assert (tokens.n_tokens, tokens.n_chars, tokens.n_bytes) == (len(encode(text)), len(text), len(text.encode()))


def test_every_cut_safe_split_chooses_keeps_the_tokens():
    text = ONE * 2
    for end in range(1, len(text)):
        head = text[:end]
        cut = corpus.safe_split(head)
        assert encode(head[:cut]) + encode(head[cut:]) == encode(head), repr(head[cut - 5:cut + 5])


def _reference_dataset():
    spec = importlib.util.spec_from_file_location("ref_dataloader", paths.solutions_dir() / "dataloader.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.GPTDatasetV1


@pytest.mark.parametrize("max_length,stride", [(16, 16), (16, 5), (8, 20), (64, 64)])
def test_token_windows_are_the_learners_windows(max_length, stride):
    import torch

    text = builtin_text()[:6000]
    expected = _reference_dataset()(text, gpt2_encoding(), max_length, stride)
    windows = corpus.TokenWindows(np.array(encode(text), dtype=np.uint16), max_length, stride)
    assert len(windows) == len(expected)
    for i in range(len(expected)):
        (x, y), (ex, ey) = windows[i], expected[i]
        assert x.dtype == torch.long and x.shape == (max_length,)
        assert torch.equal(x, ex) and torch.equal(y, ey), f"window {i} differs"
    x, y = windows.batch([3, 0, len(windows) - 1])
    assert torch.equal(x[1], expected[0][0]) and torch.equal(y[2], expected[len(expected) - 1][1])


def test_the_second_run_reuses_the_token_file(tmp_path):
    file = write(tmp_path / "t.txt", builtin_text())
    first = corpus.token_file([file])
    assert not first.reused and first.path.is_file()

    class NoEncoding:  # the cache must answer without encoding anything
        def __getattr__(self, name):
            raise AssertionError("the text was tokenized again")

    again = corpus.token_file([tmp_path / "t.txt"], encoding=NoEncoding())
    assert again.reused and again.path == first.path and again.n_tokens == first.n_tokens
    copy = write(tmp_path / "elsewhere" / "same.txt", builtin_text())  # the key is the content, not the name
    assert corpus.token_file([copy], encoding=NoEncoding()).path == first.path
    write(tmp_path / "t.txt", builtin_text() + "!")
    assert not corpus.token_file([file]).reused


def test_a_stopped_tokenization_leaves_nothing_that_is_trusted(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus, "READ_BYTES", 1000)
    file = write(tmp_path / "t.txt", builtin_text())

    def ctrl_c(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        corpus.token_file([file], progress=ctrl_c)
    assert list(corpus.tokens_dir().iterdir()) == []
    half = corpus.tokens_dir() / f"{corpus.content_key([file])}.bin"  # a token file without its metadata
    half.write_bytes(b"\0\0" * 10)
    done = corpus.token_file([file])
    assert not done.reused and done.n_tokens == len(encode(builtin_text()))


def test_a_folder_is_its_txt_files_in_order_joined_as_documents(tmp_path):
    folder = tmp_path / "books"
    write(folder / "b.txt", "Second book.")
    write(folder / "a.txt", "First book, chapter one.")
    write(folder / "part" / "c.txt", "Third\nbook.")
    write(folder / "notes.md", "not text for training")
    joined = "First book, chapter one.<|endoftext|>Second book.<|endoftext|>Third\nbook."

    small = corpus.open_corpus(str(folder))
    assert small.text == joined and small.spec == str(folder.resolve())
    streamed = corpus.open_corpus(str(folder), stream=True)
    assert isinstance(streamed, corpus.CorpusSource)
    assert [p.rsplit("/", 1)[-1] for p in streamed.files] == ["a.txt", "b.txt", "c.txt"]
    tokens = corpus.token_file(streamed.files)
    assert np.asarray(tokens.tokens()).tolist() == encode(joined)
    assert tokens.n_chars == len(joined)
    with pytest.raises(DataError, match="no .txt files"):
        corpus.open_corpus(str(write(tmp_path / "empty" / "x.md", "").parent))


def test_large_texts_stream_and_small_ones_keep_the_learners_dataloader(tmp_path, monkeypatch):
    file = write(tmp_path / "t.txt", "word " * 300)
    assert corpus.open_corpus(str(file)) is None  # datasets.load_text reads it, as before
    assert corpus.open_corpus("builtin") is None
    assert isinstance(corpus.open_corpus("builtin", stream=True), corpus.CorpusSource)
    monkeypatch.setattr(corpus, "STREAM_THRESHOLD_BYTES", 1000)
    big = corpus.open_corpus(str(file))
    assert isinstance(big, corpus.CorpusSource) and big.n_bytes == 1500 and big.text.startswith("word word")
    assert corpus.open_corpus(str(file), stream=False) is None


def test_a_file_that_is_not_utf8_is_named(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine text " * 10 + b"\xff\xfe broken")
    with pytest.raises(DataError, match=r"bad\.txt is not UTF-8"):
        corpus.token_file([bad])
    assert not any(p.suffix == ".bin" for p in corpus.tokens_dir().iterdir())

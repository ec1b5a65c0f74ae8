"""Reference solution for the bpe exercise: byte-level byte-pair encoding, trained from scratch or GPT-2's.

Text is turned into UTF-8 bytes, so any string can be encoded; a learned list of merges then joins
frequent adjacent pairs of tokens into new tokens. `train` learns the merges from a text, `encode` applies
them in the order they were learned, `decode` joins the tokens' bytes. `from_gpt2` loads OpenAI's merges
and ids, and then encodes exactly like tiktoken's "gpt2" encoding.
"""

import json
import math

import regex  # like re, plus Unicode classes such as \p{L} (any letter)

# GPT-2's pre-tokenization: contractions, words, numbers, punctuation runs, whitespace. A leading space
# stays with the word after it; merges never cross the boundaries between these chunks.
GPT2_SPLIT = regex.compile(
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
)


def merge(ids, pair, new_id):
    """Replace each occurrence of `pair` in `ids`, left to right, by `new_id`."""
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def count_pairs(chunks):
    """{pair: count} over all chunks, in the order the pairs first occur ("aaa" holds (a, a) twice)."""
    counts = {}
    for ids in chunks:
        for pair in zip(ids, ids[1:]):
            counts[pair] = counts.get(pair, 0) + 1
    return counts


def bytes_to_unicode():
    """GPT-2's files write each byte as a printable character: {byte: character}.

    Bytes that are printable already ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for themselves; the other 68
    (control characters, space, ...) are given the characters 256, 257, ... in byte order.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    mapping, extra = {}, 0
    for b in range(256):
        if b in printable:
            mapping[b] = chr(b)
        else:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


class BPETokenizer:
    """Byte-level BPE. State: `vocab` {id: bytes}, `merges` {(id, id): new id} in the order learned,
    `special_tokens` {text: id}, and `byte_ids`, the id of each single byte."""

    def __init__(self):
        self.byte_ids = list(range(256))
        self.vocab = {i: bytes([i]) for i in range(256)}
        self.merges = {}
        self.ranks = {}  # {pair: position in the merge order}: lower merges first
        self.special_tokens = {}

    # -- training --------------------------------------------------------------------------------
    def train(self, text, vocab_size, special_tokens=("<|endoftext|>",)):
        """Learn merges from `text` (on a new tokenizer) until the vocabulary, special tokens included,
        has vocab_size ids."""
        # Special tokens are cut out of the training text: their characters never join a merge.
        pieces = _split_specials(text, special_tokens)[::2]
        chunks = [list(chunk.encode("utf-8")) for piece in pieces for chunk in GPT2_SPLIT.findall(piece)]

        while len(self.vocab) + len(special_tokens) < vocab_size:
            counts = count_pairs(chunks)
            if not counts:
                break
            pair = max(counts, key=counts.get)  # max keeps the first of equal counts: the earliest pair
            if counts[pair] < 2:
                break  # a pair seen once is not a pattern
            new_id = len(self.vocab)
            chunks = [merge(ids, pair, new_id) for ids in chunks]
            self.merges[pair] = new_id
            self.ranks[pair] = len(self.ranks)
            self.vocab[new_id] = self.vocab[pair[0]] + self.vocab[pair[1]]

        for token in special_tokens:  # after the merges, in the order given
            self.special_tokens[token] = len(self.vocab)
            self.vocab[len(self.vocab)] = token.encode("utf-8")

    # -- encoding and decoding ---------------------------------------------------------------------
    def encode(self, text, allowed_special=frozenset()):
        """Token ids of `text`. Special tokens count as such only if named in `allowed_special`;
        otherwise their text is encoded like any other text."""
        ids = []
        pieces = _split_specials(text, allowed_special)
        for i, piece in enumerate(pieces):
            if i % 2 == 1:  # the odd pieces are the allowed special tokens themselves
                ids.append(self.special_tokens[piece])
                continue
            for chunk in GPT2_SPLIT.findall(piece):
                ids.extend(self._encode_chunk(chunk))
        return ids

    def _encode_chunk(self, chunk):
        ids = [self.byte_ids[b] for b in chunk.encode("utf-8")]
        while len(ids) >= 2:
            # Of the pairs present, merge the one learned first, as training did.
            pair = min(zip(ids, ids[1:]), key=lambda p: self.ranks.get(p, math.inf))
            if pair not in self.ranks:
                break  # no pair left that has a merge
            ids = merge(ids, pair, self.merges[pair])
        return ids

    def decode(self, ids):
        """The text of token ids (bytes that are not valid UTF-8 become U+FFFD)."""
        return b"".join(self.vocab[i] for i in ids).decode("utf-8", errors="replace")

    # -- GPT-2's merges -------------------------------------------------------------------------------
    @classmethod
    def from_gpt2(cls, encoder_json_path, vocab_bpe_path):
        """A tokenizer with GPT-2's ids (encoder.json) and merges (vocab.bpe)."""
        tok = cls()
        with open(encoder_json_path, encoding="utf-8") as f:
            encoder = json.load(f)  # {token written with bytes_to_unicode's characters: id}
        byte_of = {c: b for b, c in bytes_to_unicode().items()}
        tok.vocab = {i: bytes(byte_of[c] for c in token) for token, i in encoder.items()}
        tok.byte_ids = [encoder[c] for _, c in sorted(bytes_to_unicode().items())]
        with open(vocab_bpe_path, encoding="utf-8") as f:
            lines = f.read().split("\n")[1:]  # the first line is a version comment
        for rank, line in enumerate(ln for ln in lines if ln):
            a, b = line.split(" ")
            pair = (encoder[a], encoder[b])
            tok.merges[pair] = encoder[a + b]
            tok.ranks[pair] = rank
        tok.special_tokens = {"<|endoftext|>": encoder["<|endoftext|>"]}
        return tok


def _split_specials(text, specials):
    """[text, special, text, special, ..., text]: `text` cut at each occurrence of a special token."""
    if not specials:
        return [text]
    alternatives = "|".join(regex.escape(s) for s in specials)
    return regex.split(f"({alternatives})", text)

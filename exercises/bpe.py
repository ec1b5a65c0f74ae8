"""Exercise 20: byte-pair encoding from scratch (lesson: lessons/20-bpe.md).

Write a byte-level BPE tokenizer: train its merges on a text, encode and decode any UTF-8 text, and
load GPT-2's merges so that it gives exactly the ids of tiktoken's "gpt2" encoding.
"""

import json
import math

import regex  # like re, plus Unicode classes such as \p{L} (any letter)

# Given: GPT-2's pre-tokenization pattern. GPT2_SPLIT.findall(text) cuts text into chunks (words with
# their leading space, numbers, punctuation runs, whitespace); merges never cross chunk boundaries.
GPT2_SPLIT = regex.compile(
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
)


def bytes_to_unicode():
    """Given: GPT-2's files write each byte as a printable character. Returns {byte: character}.

    Printable bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for themselves; the other 68 get the
    characters chr(256), chr(257), ... in byte order.
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
    """Byte-level BPE tokenizer.

    A new BPETokenizer() knows only the 256 single bytes (id = byte value). How you store the
    vocabulary and the merges is up to you; the checks use only train, encode, decode and from_gpt2.
    """

    def __init__(self):
        raise NotImplementedError

    def train(self, text, vocab_size, special_tokens=("<|endoftext|>",)):
        """Learn merges from `text` until the vocabulary has `vocab_size` ids, special tokens included.

        - ids 0-255 are the single bytes (id = byte value); each new merge gets the next id, in order;
          the special tokens get the ids after the merges, in the order given.
        - Special tokens found in `text` are cut out first and never take part in a merge.
        - The rest is cut into chunks with GPT2_SPLIT, each chunk into its UTF-8 bytes. Pairs of
          adjacent ids are counted within chunks, with overlaps ("aaa" holds (a, a) twice).
        - Each step merges the most frequent pair everywhere (left to right); of equally frequent
          pairs, the one that occurs first in the text wins. Stop early when no pair occurs at
          least twice.
        """
        raise NotImplementedError

    def encode(self, text, allowed_special=frozenset()):
        """Token ids (a list of ints) of `text`.

        Cut out the special tokens named in `allowed_special` (each becomes its own id), cut the rest
        into GPT2_SPLIT chunks, and encode each chunk: its bytes, then repeatedly merge the pair of
        adjacent tokens that was learned first (lowest rank), until no pair has a merge. With the
        default, special-token text such as "<|endoftext|>" is encoded like ordinary text.
        """
        raise NotImplementedError

    def decode(self, ids):
        """The text of a list of ids: the tokens' bytes joined, then decoded as UTF-8.

        decode(encode(text)) == text for any text. (errors="replace" keeps a list of ids that ends
        in the middle of a character from raising.)
        """
        raise NotImplementedError

    @classmethod
    def from_gpt2(cls, encoder_json_path, vocab_bpe_path):
        """A tokenizer with GPT-2's vocabulary: encode then gives tiktoken's "gpt2" ids exactly.

        encoder.json maps each token, written with bytes_to_unicode's characters, to its id (the
        single bytes too, which are not 0-255 here); "<|endoftext|>" (50256) is the special token.
        vocab.bpe has a version line, then one merge per line, "first second", in rank order.
        """
        raise NotImplementedError

"""Exercise 1: a word-level tokenizer (lesson: lessons/01-tokenizer.md).

Write `build_vocab` and `SimpleTokenizerV2`. `split_text` is given: it is the splitting rule the checks use.
"""

import re

# Split on punctuation, the double dash and whitespace, keeping the separators (the capture group).
SPLIT_PATTERN = r'([,.:;?_!"()\']|--|\s)'
SPECIAL_TOKENS = ["<|endoftext|>", "<|unk|>"]


def split_text(text):
    """The pieces of `text` that become tokens: separators kept, whitespace-only pieces dropped."""
    pieces = re.split(SPLIT_PATTERN, text)
    return [p.strip() for p in pieces if p.strip()]


def build_vocab(text):
    """Map every distinct token of `text` to an integer id.

    Args:
        text: the training text.
    Returns:
        dict[str, int]: the distinct tokens of `split_text(text)` in sorted order get ids 0, 1, 2, …;
        then "<|endoftext|>" and "<|unk|>" get the next two ids, in that order.
    """
    raise NotImplementedError


class SimpleTokenizerV2:
    """Encodes text to token ids and decodes ids back to text with a fixed vocabulary.

    Attributes the checks rely on: none beyond the methods. Suggested: `str_to_int`, `int_to_str`.
    """

    def __init__(self, vocab):
        """`vocab` is a dict[str, int] as `build_vocab` returns."""
        raise NotImplementedError

    def encode(self, text):
        """Split `text` with `split_text` and return the list of ids.

        A piece that is not in the vocabulary becomes the id of "<|unk|>".
        """
        raise NotImplementedError

    def decode(self, ids):
        """Turn a list of ids back into text.

        Join the tokens with single spaces, then remove the space before any of , . : ; ? ! " ( ) '
        so that "Hello , world ." becomes "Hello, world.".
        """
        raise NotImplementedError

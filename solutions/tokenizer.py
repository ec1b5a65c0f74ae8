"""A word-level tokenizer: split text with a regular expression, map each piece to an id and back."""

import re

# Split on punctuation, the double dash and whitespace, keeping the separators (the capture group).
SPLIT_PATTERN = r'([,.:;?_!"()\']|--|\s)'
SPECIAL_TOKENS = ["<|endoftext|>", "<|unk|>"]


def split_text(text):
    """The pieces of `text` that become tokens: separators kept, whitespace-only pieces dropped."""
    pieces = re.split(SPLIT_PATTERN, text)
    return [p.strip() for p in pieces if p.strip()]


def build_vocab(text):
    """Map every distinct token of `text` to an id: sorted tokens first, then the two special tokens."""
    tokens = sorted(set(split_text(text)))
    tokens.extend(SPECIAL_TOKENS)  # they get the last two ids
    return {token: i for i, token in enumerate(tokens)}


class SimpleTokenizerV2:
    """Encodes text to ids and decodes ids to text with a fixed vocabulary; unknown words become <|unk|>."""

    def __init__(self, vocab):
        self.str_to_int = vocab
        self.int_to_str = {i: s for s, i in vocab.items()}

    def encode(self, text):
        pieces = split_text(text)
        unk = self.str_to_int["<|unk|>"]
        return [self.str_to_int.get(p, unk) for p in pieces]

    def decode(self, ids):
        text = " ".join(self.int_to_str[i] for i in ids)
        # Undo the space that joining put in front of punctuation: "Hello , world ." -> "Hello, world."
        return re.sub(r'\s+([,.:;?!"()\'])', r"\1", text)

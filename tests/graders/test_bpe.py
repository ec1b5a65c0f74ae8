"""The bpe grader: hand-written wrong answers fail with a useful message, other correct ways pass."""

import pytest

from tests.graders.helpers import assert_fails_saying, assert_passes, reference_source

EX = "bpe"
_REF = reference_source(EX)

# name: (source, words the learner must see in the failure text)
WRONG = {
    # Characters instead of bytes: ord(c) for each character, which breaks above 255.
    "characters-not-bytes": (
        _REF.replace('ids = [self.byte_ids[b] for b in chunk.encode("utf-8")]',
                     "ids = [self.byte_ids[ord(c) % 256] for c in chunk]"),
        ["decode(encode(text, allowed_special="],
    ),
    # The version line of vocab.bpe read as a merge.
    "version-line-as-merge": (
        _REF.replace('lines = f.read().split("\\n")[1:]  # the first line is a version comment',
                     'lines = f.read().split("\\n")'),
        ["KeyError"],
    ),
    # GPT-2's single bytes assumed to have ids 0-255.
    "gpt2-bytes-as-ids": (
        _REF.replace("        tok.byte_ids = [encoder[c] for _, c in sorted(bytes_to_unicode().items())]\n", ""),
        ["tiktoken"],
    ),
    # The special tokens get their ids before the merges (256, 257, ...).
    "specials-first": (
        _REF.replace("        while len(self.vocab) + len(special_tokens) < vocab_size:\n",
                     "        for token in special_tokens:\n"
                     "            self.special_tokens[token] = len(self.vocab)\n"
                     "            self.vocab[len(self.vocab)] = token.encode(\"utf-8\")\n"
                     "        while len(self.vocab) < vocab_size:\n")
            .replace("        for token in special_tokens:  # after the merges, in the order given\n"
                     "            self.special_tokens[token] = len(self.vocab)\n"
                     "            self.vocab[len(self.vocab)] = token.encode(\"utf-8\")\n", ""),
        ["Expected"],
    ),
}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_hand_written_mistake_fails(grader, name):
    src, words = WRONG[name]
    assert_fails_saying(grader, EX, src, words)


CORRECT = {
    # tiktoken's way of encoding a chunk: merge the adjacent pair whose joined bytes have the lowest id.
    "rank-of-joined-bytes": _REF.replace(
        "            pair = min(zip(ids, ids[1:]), key=lambda p: self.ranks.get(p, math.inf))\n"
        "            if pair not in self.ranks:\n"
        "                break  # no pair left that has a merge\n"
        "            ids = merge(ids, pair, self.merges[pair])\n",
        "            by_bytes = {v: k for k, v in self.vocab.items()}\n"
        "            joined = [by_bytes.get(self.vocab[a] + self.vocab[b], math.inf)\n"
        "                      for a, b in zip(ids, ids[1:])]\n"
        "            best = min(joined)\n"
        "            if best == math.inf or best in self.special_tokens.values():\n"
        "                break\n"
        "            i = joined.index(best)\n"
        "            ids = merge(ids, (ids[i], ids[i + 1]), best)\n",
    ),
    # Counting with collections.Counter and picking with most_common (first of equal counts).
    "counter-most-common": _REF.replace(
        "import json\n", "import json\nfrom collections import Counter\n"
    ).replace(
        "            pair = max(counts, key=counts.get)", "            pair = Counter(counts).most_common(1)[0][0]"
    ),
    # A cache of encoded chunks (texts repeat their words).
    "chunk-cache": _REF.replace(
        "    def _encode_chunk(self, chunk):\n",
        "    def _encode_chunk(self, chunk):\n"
        "        cache = self.__dict__.setdefault('_cache', {})\n"
        "        if chunk not in cache:\n"
        "            cache[chunk] = self._encode_chunk_uncached(chunk)\n"
        "        return list(cache[chunk])\n\n"
        "    def _encode_chunk_uncached(self, chunk):\n",
    ),
}


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_correct_alternative_passes(grader, name):
    assert_passes(grader, EX, CORRECT[name])

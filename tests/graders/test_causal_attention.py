"""The causal_attention grader: passes the reference, recognises the stub, fails realistic mistakes."""

import pytest

from tests.graders.helpers import assert_fails_saying, grade_source, mistake_sources, reference_source

EX = "causal_attention"


def test_unsliced_mask_message_says_to_slice(grader):
    r = grade_source(grader, EX, dict(mistake_sources(EX))["mask-not-sliced"])
    text = r.failure_text()
    assert "mask[:num_tokens, :num_tokens]" in text and "fails on an input of 5 tokens" in text, r.summary()
    assert "line" in text, r.summary()  # points at the learner's line


def test_diagonal_mistake_mentions_nan(grader):
    r = grade_source(grader, EX, dict(mistake_sources(EX))["mask-hides-diagonal"])
    assert "NaN" in r.failure_text(), r.summary()


_REF = reference_source(EX)


def edit(source: str, *pairs: tuple[str, str]) -> str:
    """`source` with each (old, new) replaced; every old text must occur, so a stale edit fails loudly."""
    for old, new in pairs:
        assert old in source, f"text not found in the reference: {old!r}"
        source = source.replace(old, new)
    return source


_DROP = "        attn_weights = self.dropout(attn_weights)         # only in train(); kept weights scaled by 1/(1-p)\n"
_MASK_LINE = '        attn_scores = attn_scores.masked_fill(future, float("-inf"))  # exp(-inf) = 0 in the softmax\n'

# A forward that flattens the batch into one long sequence to reuse 2-D code: sequences see each other.
_FLATTENED_FORWARD = '''    def forward(self, x):
        b, num_tokens, d_in = x.shape
        flat = x.reshape(b * num_tokens, d_in)
        queries, keys, values = self.W_query(flat), self.W_key(flat), self.W_value(flat)
        n = b * num_tokens
        scores = (queries @ keys.T).masked_fill(torch.triu(torch.ones(n, n, dtype=torch.bool), 1), float("-inf"))
        weights = self.dropout(torch.softmax(scores / keys.shape[-1] ** 0.5, dim=-1))
        return (weights @ values).view(b, num_tokens, -1)
'''

WRONG = {
    # name: (source, words the learner needs to read)
    "dropout-always-on": (
        edit(_REF, ("self.dropout(attn_weights)",
                    "torch.nn.functional.dropout(attn_weights, self.dropout.p, training=True)")),
        "eval()",
    ),
    "dropout-on-scores": (
        edit(_REF, (_DROP, ""), (_MASK_LINE, "        attn_scores = self.dropout(attn_scores)\n" + _MASK_LINE)),
        "no attention weight was dropped",
    ),
    "dropout-on-context": (
        edit(_REF, (_DROP, ""), ("        return context", "        return self.dropout(context)")),
        "not on the attention weights",
    ),
    "dropout-probability-ignored": (
        edit(_REF, ("nn.Dropout(dropout)", "nn.Dropout(0.1)")),
        "expected about 50%",
    ),
    "dropout-not-rescaled": (
        edit(_REF, ("self.dropout(attn_weights)",
                    "attn_weights * (torch.rand_like(attn_weights) >= self.dropout.p) if self.training "
                    "else attn_weights")),
        "1/(1-p)",
    ),
    "mask-not-a-buffer": (
        edit(_REF, ('self.register_buffer(\n            "mask", ', "self.mask = (")),
        "register_buffer",
    ),
    "flattened-batch": (
        _REF[: _REF.index("    def forward(self, x):")] + _FLATTENED_FORWARD,
        "Sequence 1 of a batch of 3",
    ),
    "weights-detached": (
        edit(_REF, ("keys = self.W_key(x) ", "keys = self.W_key(x).detach() ")),
        "W_key.weight gets no gradient",
    ),
}

@pytest.mark.parametrize("name", sorted(WRONG))
def test_hand_written_mistake_fails(grader, name):
    src, words = WRONG[name]
    assert_fails_saying(grader, EX, src, words)

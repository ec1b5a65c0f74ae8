"""The multihead_attention grader: passes the reference, recognises the stub, fails realistic mistakes."""

import pytest

from tests.graders.helpers import assert_fails_saying, grade_source, mistake_sources, reference_source

EX = "multihead_attention"


def test_unsliced_mask_message_says_to_slice(grader):
    r = grade_source(grader, EX, dict(mistake_sources(EX))["mask-not-sliced"])
    text = r.failure_text()
    assert "mask[:num_tokens, :num_tokens]" in text and "fails on an input of 5 tokens" in text, r.summary()


def test_split_mistake_links_the_splitting_section(grader):
    r = grade_source(grader, EX, dict(mistake_sources(EX))["split-without-transpose"])
    assert "lessons/06-multihead-attention.md#splitting-heads" in r.failure_text(), r.summary()


_REF = reference_source(EX)


def edit(source: str, *pairs: tuple[str, str]) -> str:
    """`source` with each (old, new) replaced; every old text must occur, so a stale edit fails loudly."""
    for old, new in pairs:
        assert old in source, f"text not found in the reference: {old!r}"
        source = source.replace(old, new)
    return source


_DROP = "        attn_weights = self.dropout(attn_weights)\n"
_MASK_LINE = '        attn_scores = attn_scores.masked_fill(future, float("-inf"))\n'
_MERGE = "context.transpose(1, 2).contiguous().view(b, num_tokens, self.d_out)"

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
    "dropout-on-merged-heads": (
        edit(_REF, (_DROP, ""), ("return self.out_proj(context)", "return self.out_proj(self.dropout(context))")),
        "not on the attention",
    ),
    "dropout-after-out-proj": (
        edit(_REF, (_DROP, ""), ("return self.out_proj(context)", "return self.dropout(self.out_proj(context))")),
        "not on the attention",
    ),
    "mask-not-a-buffer": (
        edit(_REF, ('self.register_buffer(\n            "mask", ', "self.mask = (")),
        "register_buffer",
    ),
    "view-without-contiguous": (
        edit(_REF, (".transpose(1, 2).contiguous().view(", ".transpose(1, 2).view(")),
        "view size is not compatible",
    ),
    "out-proj-without-bias": (
        edit(_REF, ("nn.Linear(d_out, d_out)", "nn.Linear(d_out, d_out, bias=False)")),
        "no parameter named 'out_proj.bias'",
    ),
    "batch-mixed-when-merging": (
        edit(_REF, (_MERGE, "context.permute(2, 0, 1, 3).contiguous().view(b, num_tokens, self.d_out)")),
        "of a batch of 3 gets a different output",
    ),
    "heads-detached-before-out-proj": (
        edit(_REF, ("return self.out_proj(context)", "return self.out_proj(context.detach())")),
        "W_query.weight gets no gradient",
    ),
}

@pytest.mark.parametrize("name", sorted(WRONG))
def test_hand_written_mistake_fails(grader, name):
    src, words = WRONG[name]
    assert_fails_saying(grader, EX, src, words)

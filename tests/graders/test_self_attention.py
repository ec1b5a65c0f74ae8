"""The self_attention grader: passes the reference, recognises the stub, fails realistic mistakes."""

import pytest

from tests.graders.helpers import assert_fails_saying, reference_source

EX = "self_attention"


_REF = reference_source(EX)
# name: (source, words the learner must see in the failure text)
WRONG = {
    # v1 weights stored as (d_out, d_in) and used as x @ W.T: the checks load (d_in, d_out) weights.
    "v1-weights-transposed": (
        _REF.replace("nn.Parameter(torch.rand(d_in, d_out))", "nn.Parameter(torch.rand(d_out, d_in))")
            .replace("x @ self.W_key  ", "x @ self.W_key.T")
            .replace("x @ self.W_query  ", "x @ self.W_query.T")
            .replace("x @ self.W_value  ", "x @ self.W_value.T"),
        ["W_query", "shape"],
    ),
    # v1 weights as plain tensors: they are not parameters, so nothing would train them.
    "v1-plain-tensors": (
        _REF.replace("nn.Parameter(torch.rand(d_in, d_out))", "torch.rand(d_in, d_out)"),
        ["W_query"],
    ),
    # Only the weights of the first row are computed, then repeated for every token.
    "one-query-for-all": (
        _REF.replace("return attn_weights @ values                     # (num_tokens, d_out)\n\n\nclass",
                     "return (attn_weights[:1] @ values).expand(x.shape[0], -1)\n\n\nclass"),
        ["Values differ"],
    ),
    # Softmax written by hand without normalising: exp(scores) are not weights.
    "exp-without-normalising": (
        _REF.replace("torch.softmax(attn_scores / keys.shape[-1] ** 0.5, dim=-1)",
                     "torch.exp(attn_scores / keys.shape[-1] ** 0.5)"),
        ["sum to 1"],
    ),
    # Attention weights never used: the context vectors are the values themselves.
    "weights-unused": (
        _REF.replace("return attn_weights @ values", "return values"),
        ["Values differ"],
    ),
    # Scaled by √d_in instead of √d_out.
    "scaled-by-d-in": (
        _REF.replace("keys.shape[-1] ** 0.5", "x.shape[-1] ** 0.5"),
        ["Values differ"],
    ),
}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_hand_written_mistake_fails(grader, name):
    src, words = WRONG[name]
    assert_fails_saying(grader, EX, src, words)

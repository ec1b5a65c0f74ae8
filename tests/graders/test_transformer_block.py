"""The transformer_block grader: passes the reference, recognises the stub, fails realistic mistakes."""

import pytest

from tests.graders.helpers import assert_fails_saying, assert_passes, reference_source

EX = "transformer_block"


_REF = reference_source(EX)
_ATT = "self.drop_shortcut(self.att(self.norm1(x)))"
_FF = "self.drop_shortcut(self.ff(self.norm2(x)))"
# name: (source, words the learner must see in the failure text)
WRONG = {
    # drop_shortcut created but never used: eval() outputs are right, train() has no dropout on the branches.
    "no-shortcut-dropout": (
        _REF.replace(_ATT, "self.att(self.norm1(x))").replace(_FF, "self.ff(self.norm2(x))"),
        ["fraction of zeroed entries: 0.00", "lessons/08-transformer-block.md#dropout-on-the-branches"],
    ),
    # Dropout applied to the sum, so it also zeroes parts of the residual stream.
    "dropout-on-the-sum": (
        _REF.replace("x = x + " + _FF, "x = self.drop_shortcut(x + self.ff(self.norm2(x)))"),
        ["before it is added to x"],
    ),
    # Functional dropout that stays on in eval().
    "dropout-always-on": (
        _REF.replace(_FF, "nn.functional.dropout(self.ff(self.norm2(x)), p=self.drop_shortcut.p, training=True)"),
        ["eval()", "nn.Dropout"],
    ),
    # Positional arguments in the book's order of another class: dropout and num_heads swapped.
    "mha-arguments-swapped": (
        _REF.replace('dropout=cfg["drop_rate"],', 'dropout=cfg["n_heads"],').replace(
            'num_heads=cfg["n_heads"],', 'num_heads=cfg["drop_rate"],'),
        ["exercises/transformer_block.py line"],
    ),
    # qkv_bias from the config ignored.
    "qkv-bias-ignored": (
        _REF.replace('qkv_bias=cfg["qkv_bias"],', "qkv_bias=False,"),
        ["no parameter named 'att.W_query.bias'"],
    ),
    # torch's LayerNorm: parameters weight/bias instead of scale/shift.
    "torch-layernorm": (
        _REF.replace('self.norm1 = LayerNorm(cfg["emb_dim"])', 'self.norm1 = nn.LayerNorm(cfg["emb_dim"])'),
        ["norm1.scale"],
    ),
}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_hand_written_mistake_fails(grader, name):
    src, words = WRONG[name]
    assert_fails_saying(grader, EX, src, words)


CORRECT = {
    # The norms built before attention: different random draws at construction, same weights once copied.
    "norms-built-first": _REF.replace(
        "        self.att = MultiHeadAttention(",
        "        self.norm1 = LayerNorm(cfg[\"emb_dim\"])\n        self.norm2 = LayerNorm(cfg[\"emb_dim\"])\n"
        "        self.att = MultiHeadAttention(",
    ),
    # The book's style: an explicit shortcut variable per sub-block.
    "shortcut-variables": _REF.replace(
        "        x = x + self.drop_shortcut(self.att(self.norm1(x)))  # (b, num_tokens, emb_dim)\n",
        "        shortcut = x\n        x = self.norm1(x)\n        x = self.att(x)\n        x = self.drop_shortcut(x)\n"
        "        x = x + shortcut\n",
    ).replace(
        "        x = x + self.drop_shortcut(self.ff(self.norm2(x)))  # (b, num_tokens, emb_dim)\n",
        "        shortcut = x\n        x = self.norm2(x)\n        x = self.ff(x)\n        x = self.drop_shortcut(x)\n"
        "        x = x + shortcut\n",
    ),
}


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_correct_alternative_passes(grader, name):
    assert_passes(grader, EX, CORRECT[name])

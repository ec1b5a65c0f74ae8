"""The layers grader: passes the reference, recognises the stub, fails realistic mistakes."""

import pytest

from tests.graders.helpers import assert_fails_saying, assert_passes, grade_source, reference_source

EX = "layers"


_REF = reference_source(EX)
_GELU_LINE = "return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * torch.pow(x, 3))))"
# name: (source, words the learner must see in the failure text)
WRONG = {
    # PyTorch's own GELU: the exact erf form, recognised as the known mistake.
    "functional-gelu": (
        _REF.replace(_GELU_LINE, "return torch.nn.functional.gelu(x)"),
        ["tanh approximation", "lessons/07-layers.md#gelu"],
    ),
    # No eps at all: rows with a tiny variance blow up.
    "no-eps": (
        _REF.replace("torch.sqrt(var + self.eps)", "torch.sqrt(var)"),
        ["Values differ", "lessons/07-layers.md#biased-variance-and-eps"],
    ),
    # scale and shift as plain tensors: not parameters, so they are neither trained nor loaded.
    "scale-shift-not-parameters": (
        _REF.replace("self.scale = nn.Parameter(torch.ones(emb_dim))", "self.scale = torch.ones(emb_dim)")
            .replace("self.shift = nn.Parameter(torch.zeros(emb_dim))", "self.shift = torch.zeros(emb_dim)"),
        ["no parameter named 'scale'"],
    ),
    # The mean without keepdim: (b, t) does not broadcast against (b, t, emb).
    "mean-without-keepdim": (
        _REF.replace("mean = x.mean(dim=-1, keepdim=True)", "mean = x.mean(dim=-1)"),
        ["RuntimeError", "exercises/layers.py line"],
    ),
    # No activation between the linear layers: the second Linear becomes layers.1.
    "no-activation": (
        _REF.replace("            GELU(),\n", ""),
        ["layers.1.weight", "layers.2.weight"],
    ),
    # The Sequential under another name.
    "sequential-named-net": (
        _REF.replace("self.layers = nn.Sequential(", "self.net = nn.Sequential(").replace(
            "return self.layers(x)", "return self.net(x)"),
        ["no parameter named 'layers.0.weight'"],
    ),
    # Torch's LayerNorm inside: parameters named weight/bias instead of scale/shift.
    "torch-layernorm-inside": (
        _REF.replace(
            "        self.eps = 1e-5  # keeps the division finite when a row's variance is (almost) zero\n"
            "        self.scale = nn.Parameter(torch.ones(emb_dim))  # (emb_dim,)\n"
            "        self.shift = nn.Parameter(torch.zeros(emb_dim))  # (emb_dim,)\n",
            "        self.ln = nn.LayerNorm(emb_dim, eps=1e-5)\n",
        ),
        ["scale", "shift"],
    ),
}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_hand_written_mistake_fails(grader, name):
    src, words = WRONG[name]
    assert_fails_saying(grader, EX, src, words)


CORRECT = {
    # Variance written out by hand (biased: a mean of squares), and torch's tanh GELU.
    "variance-by-hand-and-torch-tanh-gelu": _REF.replace(
        "var = x.var(dim=-1, keepdim=True, unbiased=False)", "var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)"
    ).replace(_GELU_LINE, 'return torch.nn.functional.gelu(x, approximate="tanh")'),
    # correction=0 is the newer spelling of unbiased=False; x ** 3 instead of torch.pow.
    "correction-zero": _REF.replace("unbiased=False", "correction=0").replace("torch.pow(x, 3)", "x ** 3"),
}


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_correct_alternative_passes(grader, name):
    assert_passes(grader, EX, CORRECT[name])


def test_functional_gelu_is_diagnosed_as_exact_gelu(grader):
    r = grade_source(grader, EX, WRONG["functional-gelu"][0])
    assert r.diagnosed("exact-gelu"), r.summary()


def test_layernorm_matches_torch():
    """The reference LayerNorm is torch.nn.LayerNorm with eps 1e-5 (biased variance, eps inside the root)."""
    import torch

    from tutor.grading.child import install_exercises_mapping, reference_mapping

    install_exercises_mapping(reference_mapping())
    from exercises.layers import GELU, LayerNorm

    torch.manual_seed(0)
    x = torch.randn(3, 4, 16) * 2 + 1
    ours, theirs = LayerNorm(16), torch.nn.LayerNorm(16, eps=1e-5)
    assert torch.allclose(ours(x), theirs(x), atol=1e-5)
    assert torch.allclose(GELU()(x), torch.nn.functional.gelu(x, approximate="tanh"), atol=1e-6)

"""The lora grader: hand-written wrong answers fail with a useful message, other correct ways pass."""

import pytest

from tests.graders.helpers import assert_fails_saying, assert_passes, reference_source

EX = "lora"
_REF = reference_source(EX)
_RECURSE = "            replace_linear_with_lora(module, rank, alpha)  # look inside blocks, Sequentials, lists\n"
assert _RECURSE in _REF

# name: (source, words the learner must see in the failure text)
WRONG = {
    # Both matrices zero: the layer starts right but can never learn.
    "a-zero": (
        _REF.replace("        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))  # the init nn.Linear gives its weight\n",
                     "        nn.init.zeros_(self.A)\n"),
        ["A should be random"],
    ),
    # A and B transposed: (rank, in_dim) and (out_dim, rank), used as x @ A.T @ B.T.
    "transposed-shapes": (
        _REF.replace("torch.empty(in_dim, rank)", "torch.empty(rank, in_dim)")
            .replace("torch.zeros(rank, out_dim)", "torch.zeros(out_dim, rank)")
            .replace("(x @ self.A @ self.B)", "(x @ self.A.T @ self.B.T)"),
        ["at ['A'][0]", "expected: [5, 3]"],
    ),
    # Recursing into the new wrapper too: it wraps the wrapped Linear again, without end.
    "wraps-twice": (
        _REF.replace("        if isinstance(module, nn.Linear):\n"
                     "            setattr(model, name, LinearWithLoRA(module, rank, alpha))\n"
                     "        else:\n" + _RECURSE,
                     "        if isinstance(module, nn.Linear):\n"
                     "            setattr(model, name, LinearWithLoRA(module, rank, alpha))\n"
                     "        replace_linear_with_lora(getattr(model, name), rank, alpha)\n"),
        ["RecursionError"],
    ),
    # A copy of the linear layer is wrapped, not the layer itself.
    "copies-linear": (
        _REF.replace("import math\n", "import copy\nimport math\n")
            .replace("        self.linear = linear\n", "        self.linear = copy.deepcopy(linear)\n"),
        ["the same object"],
    ),
    # Unfreezes everything after replacing (requires_grad_ on the whole model).
    # A drawn from a normal distribution instead of Kaiming-uniform.
    "normal-init": (
        _REF.replace("        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))  # the init nn.Linear gives its weight\n",
                     "        nn.init.normal_(self.A, std=1 / math.sqrt(rank))\n"),
        ["does not look Kaiming-uniform"],
    ),
    "unfreezes-base": (
        _REF.replace(_RECURSE, _RECURSE + "    model.requires_grad_(True)\n"),
        ["made frozen parameters trainable"],
    ),
}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_hand_written_mistake_fails(grader, name):
    src, words = WRONG[name]
    assert_fails_saying(grader, EX, src, words)


CORRECT = {
    # Freezing inside replace_linear_with_lora is allowed: the base freezes, A and B stay trainable.
    "freezes-inside": _REF.replace(
        "            setattr(model, name, LinearWithLoRA(module, rank, alpha))\n",
        "            module.requires_grad_(False)\n"
        "            setattr(model, name, LinearWithLoRA(module, rank, alpha))\n",
    ),
    # Iterating over a list of named_modules() and setting the attribute on each parent.
    "named-modules-loop": _REF.replace(
        "    for name, module in model.named_children():\n"
        "        if isinstance(module, nn.Linear):\n"
        "            setattr(model, name, LinearWithLoRA(module, rank, alpha))\n"
        "        else:\n" + _RECURSE,
        "    targets = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]\n"
        "    for full_name, module in targets:\n"
        "        parent_name, _, name = full_name.rpartition('.')\n"
        "        parent = model.get_submodule(parent_name) if parent_name else model\n"
        "        setattr(parent, name, LinearWithLoRA(module, rank, alpha))\n"
        "    return model\n",
    ),
    # The scaling kept as one precomputed attribute, and the matrix product in the other order.
    "precomputed-scaling": _REF.replace(
        "        self.alpha = alpha\n        self.rank = rank\n",
        "        self.scaling = alpha / rank\n",
    ).replace(
        "return (self.alpha / self.rank) * (x @ self.A @ self.B)",
        "return self.scaling * (x @ (self.A @ self.B))",
    ),
    # Kaiming-uniform with its default negative slope (a=0): a wider but still Kaiming-uniform A.
    "kaiming-default-slope": _REF.replace(
        "        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))  # the init nn.Linear gives its weight\n",
        "        nn.init.kaiming_uniform_(self.A)\n",
    ),
}


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_correct_alternative_passes(grader, name):
    assert_passes(grader, EX, CORRECT[name])

"""The gpt2_weights grader: hand-written wrong loaders fail and say why; correct loaders written other ways
pass (torch.split, chunk or slicing; a shared or a copied head; copy_ under no_grad or new Parameters)."""

import pytest

from tests.graders.helpers import assert_fails_saying, assert_passes, reference_source

EX = "gpt2_weights"

_REF = reference_source(EX)
_QKV_W = 'q_w, k_w, v_w = torch.chunk(sd[h + "attn.c_attn.weight"], 3, dim=-1)'
_QKV_B = 'q_b, k_b, v_b = torch.chunk(sd[h + "attn.c_attn.bias"], 3, dim=-1)'
_HEAD = '    gpt.out_head.weight = assign(gpt.out_head.weight, sd["wte.weight"], "wte.weight (output head)")\n'
_ASSIGN_BODY = (
    "    if left.shape != right.shape:\n"
    "        raise ValueError(f\"{name}: shape mismatch, the model has {tuple(left.shape)}, \"\n"
    "                         f\"the checkpoint {tuple(right.shape)}.\")\n"
    "    # A copy, so the model never shares memory with the state dict the caller may reuse or change.\n"
    "    return torch.nn.Parameter(right.clone().to(left.dtype))\n"
)

# A loader that walks the block names sorted as strings: h.0, h.1, h.10, h.11, h.2, ...
_STRING_ORDER = _REF.replace(
    "    for b, block in enumerate(gpt.trf_blocks):\n        h = f\"h.{b}.\"  # checkpoint block b goes into our block b\n",
    "    names = sorted({k.split('.')[1] for k in sd if k.startswith('h.')})\n"
    "    for b, block in enumerate(gpt.trf_blocks):\n        h = f\"h.{names[b]}.\"\n",
)

# name: (source, words the learner must see in the failure text)
WRONG = {
    "blocks-in-string-order": (_STRING_ORDER, ["trf_blocks"]),
    # copy_ without a shape check: a (1,) tensor is broadcast over the whole parameter.
    "copy-broadcasts": (
        _REF.replace(_ASSIGN_BODY, "    with torch.no_grad():\n        left.copy_(right)\n    return left\n"),
        ["copy_", "raise"],
    ),
    # The head transposed on the way in, like the Conv1D weights: (E, V) does not fit (V, E).
    "head-transposed": (
        _REF.replace('assign(gpt.out_head.weight, sd["wte.weight"],', 'assign(gpt.out_head.weight, sd["wte.weight"].T,'),
        ["shape mismatch", "exercises/gpt2_weights.py line"],
    ),
    # The attention output projection's bias forgotten (only one bias of many).
    "no-out-proj-bias": (
        _REF.replace('        att.out_proj.bias = assign(att.out_proj.bias, sd[h + "attn.c_proj.bias"], '
                     'f"{h}attn.c_proj.bias")\n', ""),
        ["att.out_proj.bias"],
    ),
    # The MLP's two projections swapped: shapes (E, 4E) and (4E, E), both transposed, both wrong.
    "mlp-projections-swapped": (
        _REF.replace('sd[h + "mlp.c_fc.weight"].T', "@FC@").replace('sd[h + "mlp.c_proj.weight"].T',
                                                                     'sd[h + "mlp.c_fc.weight"].T')
            .replace("@FC@", 'sd[h + "mlp.c_proj.weight"].T'),
        ["shape mismatch"],
    ),
    # The fused bias not split: the whole (3E,) tensor offered to each (E,) bias.
    "qkv-bias-not-split": (
        _REF.replace(_QKV_B, 'q_b = k_b = v_b = sd[h + "attn.c_attn.bias"]'),
        ["shape mismatch"],
    ),
    # The head zeroed instead of tied.
    "head-zeroed": (
        _REF.replace(_HEAD, '    gpt.out_head.weight = torch.nn.Parameter(gpt.out_head.weight.detach() * 0)\n'),
        ["out_head.weight", "wte"],
    ),
}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_hand_written_mistake_fails(grader, name):
    src, words = WRONG[name]
    assert_fails_saying(grader, EX, src, words)


_COPY_UNDER_NO_GRAD = _REF.replace(
    _ASSIGN_BODY,
    "    if left.shape != right.shape:\n"
    "        raise RuntimeError(f\"{name}: {tuple(right.shape)} does not fit {tuple(left.shape)}\")\n"
    "    with torch.no_grad():\n"
    "        left.copy_(right)\n"
    "    return left\n",
)

CORRECT = {
    "torch-split": _REF.replace(_QKV_W, 'q_w, k_w, v_w = torch.split(sd[h + "attn.c_attn.weight"], '
                                        'gpt.tok_emb.weight.shape[1], dim=1)')
                       .replace(_QKV_B, 'q_b, k_b, v_b = torch.split(sd[h + "attn.c_attn.bias"], '
                                        'gpt.tok_emb.weight.shape[1])'),
    "slicing": _REF.replace(
        _QKV_W,
        'w = sd[h + "attn.c_attn.weight"]\n        e = w.shape[0]\n'
        '        q_w, k_w, v_w = w[:, :e], w[:, e:2 * e], w[:, 2 * e:]',
    ),
    # Transpose the fused weight first, then split its rows: the pieces are already (out, in).
    "transpose-then-split-rows": _REF.replace(_QKV_W, 'q_w, k_w, v_w = (t.T for t in torch.chunk('
                                                      'sd[h + "attn.c_attn.weight"].T, 3, dim=0))'),
    "shared-head-parameter": _REF.replace(_HEAD, "    gpt.out_head.weight = gpt.tok_emb.weight\n"),
    "copy-under-no-grad": _COPY_UNDER_NO_GRAD,
    # copy_ everywhere and the head as a copy of the (already loaded) token embeddings.
    "copy-and-copied-head": _COPY_UNDER_NO_GRAD.replace(
        _HEAD, "    with torch.no_grad():\n        gpt.out_head.weight.copy_(gpt.tok_emb.weight)\n"),
    # Parameters that share memory with the state dict (no clone), as long as the shapes are checked.
    "no-clone": _REF.replace("torch.nn.Parameter(right.clone().to(left.dtype))",
                             "torch.nn.Parameter(right)"),
}


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_correct_alternative_passes(grader, name):
    assert_passes(grader, EX, CORRECT[name])

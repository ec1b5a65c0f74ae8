"""The gpt_model grader: passes the reference, recognises the stub, fails realistic mistakes."""

import pytest

from tests.graders.helpers import assert_fails_saying, assert_passes, reference_source

EX = "gpt_model"


_REF = reference_source(EX)
# name: (source, words the learner must see in the failure text)
WRONG = {
    # Positions looked up with the token ids: ids beyond context_length are out of range.
    "pos-emb-with-token-ids": (
        _REF.replace("self.pos_emb(torch.arange(seq_len, device=in_idx.device))", "self.pos_emb(in_idx)"),
        ["IndexError", "exercises/gpt_model.py line"],
    ),
    # generate returns only the new tokens, without the prompt.
    "returns-only-new-tokens": (
        _REF.replace("    for _ in range(max_new_tokens):\n",
                     "    prompt_len = idx.shape[1]\n    for _ in range(max_new_tokens):\n")
            .replace("    return idx\n", "    return idx[:, prompt_len:]\n"),
        ["Wrong shape"],
    ),
    # Embedding dropout that stays on in eval().
    "dropout-always-on": (
        _REF.replace("x = self.drop_emb(x)", "x = nn.functional.dropout(x, p=self.drop_emb.p, training=True)"),
        ["eval()"],
    ),
    # A fixed number of blocks instead of cfg["n_layers"].
    "n-layers-ignored": (
        _REF.replace('range(cfg["n_layers"])', "range(12)"),
        ["Wrong keys", "trf_blocks"],
    ),
    # drop_emb is built but never applied: only visible in train() mode with drop_rate > 0.
    "drop-emb-never-applied": (
        _REF.replace("        x = self.drop_emb(x)\n", ""),
        ["no embedding entry was dropped", "drop_emb"],
    ),
    # Dropout on the token embeddings only, before the positions are added.
    "drop-emb-on-tokens-only": (
        _REF.replace("        x = self.drop_emb(x)\n", "").replace(
            "tok_embeds = self.tok_emb(in_idx)", "tok_embeds = self.drop_emb(self.tok_emb(in_idx))"),
        ["embedding entr"],
    ),
    # drop_emb applied twice (before and after the blocks): a dropout rate of 75% in effect on the embeddings.
    "drop-emb-twice": (
        _REF.replace("        x = self.drop_emb(x)\n", "        x = self.drop_emb(self.drop_emb(x))\n"),
        ["embedding entries were dropped"],
    ),
}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_hand_written_mistake_fails(grader, name):
    src, words = WRONG[name]
    assert_fails_saying(grader, EX, src, words)


CORRECT = {
    # softmax before argmax picks the same token: not a mistake.
    "softmax-then-argmax": _REF.replace(
        "idx_next = torch.argmax(logits, dim=-1, keepdim=True)",
        "idx_next = torch.argmax(torch.softmax(logits, dim=-1), dim=-1, keepdim=True)",
    ),
    # The blocks in an nn.ModuleList with an explicit loop: same parameter names, same function.
    "modulelist-loop": _REF.replace(
        "self.trf_blocks = nn.Sequential(*[TransformerBlock(cfg) for _ in range(cfg[\"n_layers\"])])",
        "self.trf_blocks = nn.ModuleList([TransformerBlock(cfg) for _ in range(cfg[\"n_layers\"])])",
    ).replace(
        "        x = self.trf_blocks(x)  # (b, num_tokens, emb_dim)\n",
        "        for block in self.trf_blocks:\n            x = block(x)\n",
    ),
    # The output head built before the blocks: different random draws at construction, same weights once copied.
    "head-built-first": _REF.replace(
        "        self.out_head = nn.Linear(cfg[\"emb_dim\"], cfg[\"vocab_size\"], bias=False)\n", ""
    ).replace(
        "        self.tok_emb = nn.Embedding(",
        "        self.out_head = nn.Linear(cfg[\"emb_dim\"], cfg[\"vocab_size\"], bias=False)\n"
        "        self.tok_emb = nn.Embedding(",
    ),
    # The positions made with torch.arange on the default device and unsqueezed: a different but right way.
    "positions-unsqueezed": _REF.replace(
        "pos_embeds = self.pos_emb(torch.arange(seq_len, device=in_idx.device))",
        "pos_embeds = self.pos_emb(torch.arange(seq_len).unsqueeze(0))",
    ),
}


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_correct_alternative_passes(grader, name):
    assert_passes(grader, EX, CORRECT[name])


def _reference_module():
    from tutor.grading.child import install_exercises_mapping, reference_mapping

    install_exercises_mapping(reference_mapping())
    import exercises.gpt_model

    return exercises.gpt_model


def test_reference_gpt2_124m_has_163_009_536_parameters():
    """Counted on a model built on the meta device the plain way (no shortcuts), and by the check's helper."""
    import torch

    from tutor.checks.check_gpt_model import GPT_CONFIG_124M, count_parameters_124m

    ref = _reference_module()
    with torch.device("meta"):
        model = ref.GPTModel(GPT_CONFIG_124M)
    total = sum(p.numel() for p in model.parameters())
    assert total == 163_009_536
    assert total - model.out_head.weight.numel() == 124_412_160  # with weight tying: GPT-2's "124M"
    assert count_parameters_124m(ref) == 163_009_536

"""The embeddings grader: passes the reference, recognises the stub, fails realistic mistakes."""

import pytest

from tests.graders.helpers import assert_fails_saying, reference_source

EX = "embeddings"


_REF = reference_source(EX)
# name: (source, words the learner must see in the failure text)
WRONG = {
    # Fixed sinusoidal positions instead of a learned pos_emb table: no pos_emb parameter.
    "sinusoidal-positions": (
        _REF.replace(
            "        self.pos_emb = nn.Embedding(context_length, emb_dim)  # one row per position 0 .. context_length-1\n",
            "        pos = torch.arange(context_length).unsqueeze(1)\n"
            "        freq = torch.exp(-torch.arange(0, emb_dim, 2) / emb_dim * 9.21)\n"
            "        table = torch.zeros(context_length, emb_dim)\n"
            "        table[:, 0::2] = torch.sin(pos * freq)\n"
            "        table[:, 1::2] = torch.cos(pos * freq)[:, : emb_dim // 2]\n"
            "        self.pos_emb = lambda positions: table[positions]\n",
        ),
        ["pos_emb.weight"],
    ),
    # The positional table is a plain tensor, not a parameter: it would never be trained.
    "pos-table-not-a-parameter": (
        _REF.replace(
            "        self.pos_emb = nn.Embedding(context_length, emb_dim)  # one row per position 0 .. context_length-1\n",
            "        self.pos_table = torch.randn(context_length, emb_dim)\n"
            "        self.pos_emb = lambda positions: self.pos_table[positions]\n",
        ),
        ["pos_emb.weight"],
    ),
    # Positions counted from the end: the last token gets position 0.
    "positions-reversed": (
        _REF.replace("positions = torch.arange(num_tokens, device=idx.device)",
                     "positions = torch.arange(num_tokens - 1, -1, -1, device=idx.device)"),
        ["Values differ"],
    ),
    # All positions of the context are added, whatever the sequence length: fails for short sequences.
    "whole-position-table": (
        _REF.replace("pos_embeds = self.pos_emb(positions)", "pos_embeds = self.pos_emb.weight"),
        ["RuntimeError", "exercises/embeddings.py line"],
    ),
    # Mean over the batch mixes the sequences.
    "batch-mixed": (
        _REF.replace("return tok_embeds + pos_embeds", "return tok_embeds.mean(dim=0, keepdim=True) + pos_embeds"),
        ["Wrong shape"],
    ),
    # Embedding the ids as float (a Linear on one number per token) is not a lookup table.
    "tok-emb-as-linear": (
        _REF.replace("self.tok_emb = nn.Embedding(vocab_size, emb_dim)", "self.tok_emb = nn.Linear(1, emb_dim)")
            .replace("tok_embeds = self.tok_emb(idx)", "tok_embeds = self.tok_emb(idx.unsqueeze(-1).float())"),
        ["tok_emb"],
    ),
}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_hand_written_mistake_fails(grader, name):
    src, words = WRONG[name]
    assert_fails_saying(grader, EX, src, words)

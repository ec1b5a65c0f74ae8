"""The dataloader grader: passes the reference, recognises the stub, fails realistic mistakes."""

import pytest

from tests.graders.helpers import assert_fails_saying, reference_source

EX = "dataloader"


_REF = reference_source(EX)
# name: (source, words the learner must see in the failure text)
WRONG = {
    # tokenizer.encode(txt) without allowed_special: tiktoken refuses <|endoftext|>.
    "no-allowed-special": (
        _REF.replace('tokenizer.encode(txt, allowed_special={"<|endoftext|>"})', "tokenizer.encode(txt)"),
        ["ValueError", "allowed_special", "exercises/dataloader.py line"],
    ),
    # shuffle is not passed on: batches always come in order.
    "shuffle-ignored": (
        _REF.replace("        shuffle=shuffle,\n", ""),
        ["shuffle"],
    ),
    # The dataset encodes with its own tiktoken encoding instead of the tokenizer it is given.
    "tokenizer-argument-ignored": (
        _REF.replace('token_ids = tokenizer.encode(txt, allowed_special={"<|endoftext|>"})',
                     'token_ids = tiktoken.get_encoding("gpt2").encode(txt, allowed_special={"<|endoftext|>"})'),
        ["number of windows"],
    ),
    # Items are plain lists of ids, not tensors.
    "lists-not-tensors": (
        _REF.replace("torch.tensor(input_chunk)", "input_chunk").replace("torch.tensor(target_chunk)", "target_chunk"),
        ["tensor"],
    ),
    # Windows as int32 tensors.
    "int32-ids": (
        _REF.replace("torch.tensor(input_chunk)", "torch.tensor(input_chunk, dtype=torch.int32)")
            .replace("torch.tensor(target_chunk)", "torch.tensor(target_chunk, dtype=torch.int32)"),
        ["torch.int32", "torch.long"],
    ),
    # batch_size fixed at 4 whatever the caller asks.
    "batch-size-ignored": (
        _REF.replace("batch_size=batch_size,", "batch_size=4,"),
        ["Expected"],
    ),
    # One window per max_length tokens, computed by division (ignores stride and the +1 target token).
    "windows-by-division": (
        _REF.replace("range(0, len(token_ids) - max_length, stride)",
                     "(i * stride for i in range(len(token_ids) // max_length))"),
        ["number of windows"],
    ),
}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_hand_written_mistake_fails(grader, name):
    src, words = WRONG[name]
    assert_fails_saying(grader, EX, src, words)

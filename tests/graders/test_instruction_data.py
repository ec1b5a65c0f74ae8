"""The instruction_data grader: realistic wrong answers fail with a useful message, correct ones written
another way pass."""

import pytest

from tests.graders.helpers import assert_fails_saying, assert_passes, reference_source

EX = "instruction_data"
_REF = reference_source(EX)


def with_function(name: str, new_source: str) -> str:
    """The reference with the top-level function `name` replaced by `new_source`."""
    start = _REF.index(f"def {name}(")
    ends = [i for i in (_REF.find("\ndef ", start), _REF.find("\nclass ", start)) if i != -1]
    end = min(ends) + 1 if ends else len(_REF)
    return _REF[:start] + new_source.strip("\n") + "\n\n" + _REF[end:]


WRONG = {
    # Padding the dataset's own lists in place: they grow by one pad every time a batch is made.
    "pads-in-place": (
        _REF.replace("        padded = item + [pad_token_id] * (batch_max_length - len(item))\n",
                     "        item += [pad_token_id] * (batch_max_length - len(item))\n        padded = item\n"),
        ["lists changed", "grow every epoch"],
    ),
    # Float tensors: embeddings cannot take them.
    "float-tensors": (
        _REF.replace("torch.tensor(padded[:-1], dtype=torch.long)", "torch.tensor(padded[:-1], dtype=torch.float)")
            .replace("torch.tensor(padded[1:], dtype=torch.long)", "torch.tensor(padded[1:], dtype=torch.float)"),
        ["dtype"],
    ),
    # One newline between the sections instead of a blank line.
    "single-newlines": (
        _REF.replace('INSTRUCTION_HEADER = "\\n\\n### Instruction:\\n"', 'INSTRUCTION_HEADER = "\\n### Instruction:\\n"'),
        ["format_input", "Expected"],
    ),
    # Only the prompt is encoded: the model would never see an answer.
    "prompt-only-encoded": (
        _REF.replace('full_text = format_input(entry) + RESPONSE_HEADER + entry["output"]',
                     "full_text = format_input(entry)"),
        ["InstructionDataset"],
    ),
    # Lists instead of tensors.
    "returns-lists": (
        _REF.replace("    return inputs_tensor, targets_tensor\n",
                     "    return [t.tolist() for t in inputs_lst], [t.tolist() for t in targets_lst]\n"),
        ["as a tensor"],
    ),
    # Truncating each item to allowed_max_length before padding: the last target becomes a pad.
    "truncate-before-shift": (
        _REF.replace("        padded = item + [pad_token_id] * (batch_max_length - len(item))\n",
                     "        if allowed_max_length is not None:\n"
                     "            item = item[:allowed_max_length]\n"
                     "        padded = item + [pad_token_id] * (batch_max_length - len(item))\n"),
        ["allowed_max_length", "Values differ"],
    ),
    # All pads masked by value, including the first one (the book's nonzero() trick, one index off).
    "mask-every-pad-by-value": (
        _REF.replace("        targets[len(item):] = ignore_index\n",
                     "        targets[targets == pad_token_id] = ignore_index\n"),
        ["first one too", "stop"],
    ),
}

ALTERNATIVES = {
    # pad_sequence: inputs padded with pad_token_id, targets (item[1:] + end-of-text) with ignore_index.
    "pad-sequence": with_function("custom_collate_fn", '''
def custom_collate_fn(batch, pad_token_id=50256, ignore_index=-100, allowed_max_length=None, device="cpu"):
    from torch.nn.utils.rnn import pad_sequence

    inputs = pad_sequence([torch.tensor(item) for item in batch], batch_first=True,
                          padding_value=pad_token_id)
    targets = pad_sequence([torch.tensor(list(item[1:]) + [pad_token_id]) for item in batch],
                           batch_first=True, padding_value=ignore_index)
    if allowed_max_length is not None:
        inputs, targets = inputs[:, :allowed_max_length], targets[:, :allowed_max_length]
    return inputs.to(device), targets.to(device)
'''),
    # Masking by value with nonzero(), keeping the first pad; one row at a time into preallocated tensors.
    "mask-by-value": with_function("custom_collate_fn", '''
def custom_collate_fn(batch, pad_token_id=50256, ignore_index=-100, allowed_max_length=None, device="cpu"):
    width = max(len(item) for item in batch)
    inputs = torch.full((len(batch), width), pad_token_id, dtype=torch.long)
    targets = torch.full((len(batch), width), pad_token_id, dtype=torch.long)
    for row, item in enumerate(batch):
        inputs[row, :len(item)] = torch.tensor(item)
        targets[row, :len(item) - 1] = torch.tensor(item[1:], dtype=torch.long)
        pads = torch.nonzero(targets[row] == pad_token_id).flatten()
        if pads.numel() > 1:
            targets[row, pads[1:]] = ignore_index
    if allowed_max_length:
        inputs, targets = inputs[:, :allowed_max_length], targets[:, :allowed_max_length]
    return inputs.to(device), targets.to(device)
'''),
    # format_input with an if statement and +.
    "if-and-concat": with_function("format_input", '''
def format_input(entry):
    text = PREAMBLE + "\\n\\n" + "### Instruction:\\n" + entry["instruction"]
    if len(entry["input"]) > 0:
        text += "\\n\\n### Input:\\n" + entry["input"]
    return text
'''),
}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_hand_written_mistake_fails(grader, name):
    src, words = WRONG[name]
    assert_fails_saying(grader, EX, src, words, with_check_names=True)


@pytest.mark.parametrize("name", sorted(ALTERNATIVES))
def test_correct_alternative_passes(grader, name):
    assert_passes(grader, EX, ALTERNATIVES[name])

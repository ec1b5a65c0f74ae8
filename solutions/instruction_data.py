"""Instruction data: the Alpaca-style prompt, a dataset of tokenized examples, and a collate function that
pads a batch of different lengths so that the loss learns to stop and ignores the padding.

Token ids are plain lists of ints until the collate function turns a batch into tensors. Nothing here
trains a model.
"""
import torch
from torch.utils.data import Dataset

PREAMBLE = ("Below is an instruction that describes a task. "
            "Write a response that appropriately completes the request.")
INSTRUCTION_HEADER = "\n\n### Instruction:\n"
INPUT_HEADER = "\n\n### Input:\n"
RESPONSE_HEADER = "\n\n### Response:\n"


def format_input(entry):
    """The prompt for one example: the preamble, the instruction and, if there is one, the input.

    `entry` is a dict with the keys `instruction`, `input` and `output`; `output` is not used here.
    """
    instruction_text = PREAMBLE + INSTRUCTION_HEADER + entry["instruction"]
    # An empty input gets no section at all: an empty "### Input:" would only teach the model noise.
    input_text = INPUT_HEADER + entry["input"] if entry["input"] else ""
    return instruction_text + input_text


class InstructionDataset(Dataset):
    """Each item is the token ids (a list of ints) of prompt, response header and answer together."""

    def __init__(self, data, tokenizer):
        self.data = data
        self.encoded_texts = []
        for entry in data:
            full_text = format_input(entry) + RESPONSE_HEADER + entry["output"]
            self.encoded_texts.append(tokenizer.encode(full_text))

    def __getitem__(self, index):
        return self.encoded_texts[index]

    def __len__(self):
        return len(self.data)


def custom_collate_fn(batch, pad_token_id=50256, ignore_index=-100, allowed_max_length=None, device="cpu"):
    """Pad a list of token-id lists into `(inputs, targets)`, two `(batch, width)` `torch.long` tensors.

    Every sequence gets one end-of-text token (`pad_token_id`) and is padded with more of them to the
    longest; the targets are the inputs shifted by one. In the targets the first pad stays (the model
    must learn to end its answer) and every later pad becomes `ignore_index`, which cross-entropy skips.
    `allowed_max_length` then cuts both tensors to at most that many columns.
    """
    # The longest sequence plus its end-of-text token; inputs and targets are one shorter than that.
    batch_max_length = max(len(item) + 1 for item in batch)
    inputs_lst, targets_lst = [], []
    for item in batch:
        # `+` makes a new list: the dataset's own lists must not grow by one pad per batch (no +=).
        padded = item + [pad_token_id] * (batch_max_length - len(item))
        inputs = torch.tensor(padded[:-1], dtype=torch.long)  # (batch_max_length - 1,)
        targets = torch.tensor(padded[1:], dtype=torch.long)  # the next token at every position
        # targets[len(item) - 1] is the first pad: the end-of-text the model should predict. Keep it.
        targets[len(item):] = ignore_index
        if allowed_max_length is not None:
            inputs = inputs[:allowed_max_length]
            targets = targets[:allowed_max_length]
        inputs_lst.append(inputs)
        targets_lst.append(targets)
    inputs_tensor = torch.stack(inputs_lst).to(device)  # (batch, width)
    targets_tensor = torch.stack(targets_lst).to(device)  # (batch, width)
    return inputs_tensor, targets_tensor

"""Exercise 15: instruction data, from examples to padded training batches
(lesson: lessons/15-instruction-data.md).

Each example is a dict with the keys `instruction`, `input` (possibly the empty string) and `output`.
Token ids stay plain lists of ints until `custom_collate_fn` turns a batch into tensors.
"""
import torch
from torch.utils.data import Dataset

PREAMBLE = ("Below is an instruction that describes a task. "
            "Write a response that appropriately completes the request.")
INSTRUCTION_HEADER = "\n\n### Instruction:\n"
INPUT_HEADER = "\n\n### Input:\n"
RESPONSE_HEADER = "\n\n### Response:\n"


def format_input(entry):
    """The Alpaca-style prompt for one example.

    Returns exactly
    `PREAMBLE + "\\n\\n### Instruction:\\n" + entry["instruction"]`, followed by
    `"\\n\\n### Input:\\n" + entry["input"]` only when `entry["input"]` is not the empty string.
    `entry["output"]` is not part of the prompt.
    """
    raise NotImplementedError


class InstructionDataset(Dataset):
    """A dataset of tokenized examples.

    `__init__(data, tokenizer)` encodes, for each entry of the list `data`,
    `format_input(entry) + "\\n\\n### Response:\\n" + entry["output"]` with `tokenizer.encode(text)`
    (e.g. `tiktoken.get_encoding("gpt2")`). `dataset[i]` returns the token ids of entry `i` (a list of
    ints, in the order of `data`); `len(dataset)` is the number of entries.
    """

    def __init__(self, data, tokenizer):
        raise NotImplementedError

    def __getitem__(self, index):
        raise NotImplementedError

    def __len__(self):
        raise NotImplementedError


def custom_collate_fn(batch, pad_token_id=50256, ignore_index=-100, allowed_max_length=None, device="cpu"):
    """Turn a list of token-id lists of different lengths into `(inputs, targets)`.

    For each sequence `item` (a list of ints, never containing `pad_token_id` itself):
      - append one `pad_token_id` (the end-of-text token), then pad with more `pad_token_id` until
        every sequence has `max(len(item)) + 1` tokens;
      - inputs are that padded list without its last token, targets are it without its first token
        (the targets are the inputs shifted by one), so both have `max(len(item))` entries;
      - in the targets, keep the first pad (at index `len(item) - 1`: the model must learn to stop)
        and set every later position to `ignore_index`; the inputs keep `pad_token_id` everywhere;
      - if `allowed_max_length` is set, keep only the first `allowed_max_length` entries of the inputs
        and of the targets (after the steps above).
    Do not change the lists in `batch`.

    Returns:
        `(inputs, targets)`: two `(batch_size, width)` `torch.long` tensors on `device`.
    """
    raise NotImplementedError

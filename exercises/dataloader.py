"""Exercise 2: GPT-2 tokens and a sliding-window dataset (lesson: lessons/02-dataloader.md).

Write `GPTDatasetV1` and `create_dataloader_v1`. Grade with `tutor grade dataloader`.
"""

import tiktoken
import torch
from torch.utils.data import DataLoader, Dataset


class GPTDatasetV1(Dataset):
    """All next-token-prediction windows of one text.

    Args:
        txt: the whole training text (a str); it may contain `<|endoftext|>`.
        tokenizer: a tiktoken encoding such as `tiktoken.get_encoding("gpt2")` (the checks also pass a simpler
            object with the same `encode` method). Encode the text once with
            `tokenizer.encode(txt, allowed_special={"<|endoftext|>"})`.
        max_length: number of tokens in each input window.
        stride: how far the start moves from one window to the next.

    Windows start at 0, stride, 2*stride, ... for as long as `start + max_length < len(token_ids)`
    (a window needs one token past its end for the last target, so a last partial window is dropped).
    Window `i` starting at `start` is the pair:
        input  = token_ids[start : start + max_length]
        target = token_ids[start + 1 : start + max_length + 1]   (the input shifted left by one)

    `len(dataset)` is the number of windows; `dataset[i]` returns `(input, target)`, two 1-D tensors of
    dtype `torch.long` and shape `(max_length,)`.
    """

    def __init__(self, txt, tokenizer, max_length, stride):
        raise NotImplementedError

    def __len__(self):
        raise NotImplementedError

    def __getitem__(self, idx):
        raise NotImplementedError


def create_dataloader_v1(txt, batch_size=4, max_length=256, stride=128,
                         shuffle=True, drop_last=True, num_workers=0):
    """Build a `torch.utils.data.DataLoader` over `GPTDatasetV1` with GPT-2's BPE tokenizer.

    Use `tiktoken.get_encoding("gpt2")` as the tokenizer and pass `batch_size`, `shuffle`, `drop_last` and
    `num_workers` on to the DataLoader.

    Returns:
        The DataLoader. Iterating it yields `(inputs, targets)`, two `torch.long` tensors of shape
        `(batch_size, max_length)` (the last batch may be smaller when `drop_last=False`).
    """
    raise NotImplementedError

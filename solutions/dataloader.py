"""Reference solution for the dataloader exercise: text -> GPT-2 token ids -> (input, target) windows.

A GPT learns by predicting the next token, so every training example is a window of `max_length` token
ids (the input) paired with the same window shifted one token to the right (the target). This module cuts
those windows out of one long text and serves them in batches through a PyTorch DataLoader.
"""

import tiktoken
import torch
from torch.utils.data import DataLoader, Dataset


class GPTDatasetV1(Dataset):
    """All (input, target) windows of one text, as 1-D `torch.long` tensors of length `max_length`."""

    def __init__(self, txt, tokenizer, max_length, stride):
        self.input_ids = []
        self.target_ids = []

        # <|endoftext|> separates documents; tiktoken refuses it unless we allow it explicitly.
        token_ids = tokenizer.encode(txt, allowed_special={"<|endoftext|>"})

        # A window needs max_length inputs plus one extra token for its last target,
        # so the last start that fits is len(token_ids) - max_length - 1.
        for start in range(0, len(token_ids) - max_length, stride):
            input_chunk = token_ids[start:start + max_length]
            target_chunk = token_ids[start + 1:start + max_length + 1]  # the same window, one token later
            self.input_ids.append(torch.tensor(input_chunk))  # python ints -> torch.long
            self.target_ids.append(torch.tensor(target_chunk))

    def __len__(self):
        return len(self.input_ids)

    def __getitem__(self, idx):
        return self.input_ids[idx], self.target_ids[idx]  # (max_length,), (max_length,)


def create_dataloader_v1(txt, batch_size=4, max_length=256, stride=128,
                         shuffle=True, drop_last=True, num_workers=0):
    """A DataLoader over `GPTDatasetV1(txt, GPT-2 BPE tokenizer, max_length, stride)`.

    Each batch is a pair of `torch.long` tensors of shape (batch_size, max_length).
    """
    tokenizer = tiktoken.get_encoding("gpt2")
    dataset = GPTDatasetV1(txt, tokenizer, max_length, stride)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=drop_last,  # a short last batch would make loss curves jumpy
        num_workers=num_workers,
    )

"""Exercise 14: turn your GPT into a spam classifier (lesson: lessons/14-classifier.md).

Write a dataset of padded messages, a function that swaps the model's output head for a two-way
one, the loss and accuracy of a classifier, and a function that labels one message. The model is
your `GPTModel` (or anything with its attribute names): `tok_emb`, `pos_emb`, `trf_blocks` (a
sequence of blocks), `final_norm` and `out_head`; it maps `(batch, num_tokens)` ids to
`(batch, num_tokens, num_outputs)` logits.
"""

import csv

import torch
import torch.nn as nn
from torch.utils.data import Dataset


class SpamDataset(Dataset):
    """Labelled messages from a CSV file, encoded and padded to one length.

    Args:
        csv_file: path of a CSV file with a header row and the columns `Label` (the integer 0 for
            not spam, 1 for spam) and `Text` (the message). Read it with the `csv` module.
        tokenizer: has `.encode(text) -> list[int]` (GPT-2's tiktoken encoding in the runs).
        max_length: every message becomes exactly this many ids: longer ones keep their FIRST
            `max_length` ids, shorter ones are padded. `None` means the length of the longest
            encoded message.
        pad_token_id: the id appended to short messages (50256, GPT-2's `<|endoftext|>`).

    After `__init__`, `self.max_length` is the padded length. `dataset[i]` is a pair of
    `torch.long` tensors: the ids `(max_length,)` and the label `()`. `len(dataset)` is the number
    of messages.
    """

    def __init__(self, csv_file, tokenizer, max_length=None, pad_token_id=50256):
        raise NotImplementedError

    def __getitem__(self, index):
        raise NotImplementedError

    def __len__(self):
        raise NotImplementedError


def prepare_for_classification(model, num_classes=2):
    """Replace the output head with a `num_classes`-way one and choose what trains.

    Sets `model.out_head = nn.Linear(emb_dim, num_classes)` (with a bias; `emb_dim` is what the
    old head read, `model.out_head.in_features`). Afterwards exactly these parameters have
    `requires_grad=True`: the new head's, the last transformer block's (`model.trf_blocks[-1]`)
    and `model.final_norm`'s; every other parameter has `requires_grad=False`. Other parameters
    keep their values.

    Returns:
        The same model object, changed in place.
    """
    raise NotImplementedError


def calc_loss_batch(input_batch, target_batch, model, device):
    """Mean cross-entropy of the classifier on one batch.

    Args:
        input_batch: token ids `(batch, num_tokens)`, `torch.long`.
        target_batch: class labels `(batch,)`, `torch.long`.
        model: maps ids to `(batch, num_tokens, num_classes)` logits; classify with the logits
            of the LAST position.
        device: move both batches there.

    Returns:
        A 0-d tensor still attached to the graph (no `.item()`), so `loss.backward()` works.
    """
    raise NotImplementedError


def calc_accuracy_loader(data_loader, model, device, num_batches=None):
    """Fraction of correctly classified examples in the first batches of a loader.

    Puts the model in `eval()` mode (dropout off) and runs it without gradients. The prediction
    for an example is the argmax of its last position's logits.

    Args:
        data_loader: yields `(input_batch, target_batch)` pairs and has a `len()`.
        num_batches: use the first `min(num_batches, len(data_loader))` batches; `None` = all.

    Returns:
        A Python float in [0, 1]: correct predictions divided by the number of EXAMPLES used
        (batches may differ in size).
    """
    raise NotImplementedError


def classify_text(text, model, tokenizer, device, max_length=None, pad_token_id=50256):
    """Label one message: `"spam"` (class 1) or `"not spam"` (class 0).

    Puts the model in `eval()` mode and runs it without gradients on a batch of one message,
    prepared like the training data: encoded, truncated to its first `max_length` ids (to the
    model's context length, `model.pos_emb.weight.shape[0]`, when `max_length` is `None`), and,
    when `max_length` is given, padded with `pad_token_id` to exactly `max_length` ids. The label
    is the argmax of the last position's logits.
    """
    raise NotImplementedError

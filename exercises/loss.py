"""Exercise 10: next-token loss and perplexity (lesson: lessons/10-loss.md).

Write three functions. The model is used only through `model(idx) -> logits`: `idx` is a
`(batch, num_tokens)` tensor of token ids and the logits have shape `(batch, num_tokens, vocab_size)`.
The targets are the inputs shifted by one token; the data loader already did the shift.
"""
import math

import torch


def calc_loss_batch(input_batch, target_batch, model, device):
    """Mean cross-entropy of `model` predicting `target_batch` from `input_batch`.

    Args:
        input_batch: token ids, `(batch, num_tokens)`, `torch.long`.
        target_batch: the next token at every position, same shape as `input_batch`.
        model: maps `(batch, num_tokens)` ids to `(batch, num_tokens, vocab_size)` logits.
        device: where to run (`"cpu"`, `"cuda"`, a `torch.device`); move both batches there.

    Returns:
        A 0-d tensor: the mean over all `batch * num_tokens` positions, still attached to the
        graph so that `loss.backward()` works (do not call `.item()` here).
    """
    raise NotImplementedError


def calc_loss_loader(data_loader, model, device, num_batches=None):
    """Mean of the per-batch losses (from `calc_loss_batch`) over the first batches of a loader.

    Args:
        data_loader: yields `(input_batch, target_batch)` pairs and has a `len()`.
        num_batches: use the first `min(num_batches, len(data_loader))` batches; `None` means all.

    Returns:
        A Python float: the sum of those batch losses divided by the number of batches used;
        `float("nan")` when the loader is empty.
    """
    raise NotImplementedError


def perplexity(loss):
    """exp(loss) for a mean cross-entropy `loss` in nats.

    Args:
        loss: a Python float or a 0-d tensor.

    Returns:
        A Python float.
    """
    raise NotImplementedError

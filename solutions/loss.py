"""Next-token loss: cross-entropy of a language model on a batch, averaged over a loader, and perplexity.

The model is used only through its interface, `model(idx) -> logits` with `idx` of shape
`(batch, num_tokens)` and logits of shape `(batch, num_tokens, vocab_size)`; the targets are the
inputs shifted by one token, which the data loader already did. Nothing here trains the model.
"""
import math

import torch


def calc_loss_batch(input_batch, target_batch, model, device):
    """Mean cross-entropy of `model` predicting `target_batch` from `input_batch`.

    Args:
        input_batch: token ids, `(batch, num_tokens)`, `torch.long`.
        target_batch: the next token at every position, same shape as `input_batch`.
        model: maps `(batch, num_tokens)` ids to `(batch, num_tokens, vocab_size)` logits.
        device: where to run (`"cpu"`, `"cuda"`, a `torch.device`).

    Returns:
        A 0-d tensor, still attached to the graph so that `loss.backward()` works.
    """
    input_batch = input_batch.to(device)  # (b, num_tokens)
    target_batch = target_batch.to(device)  # (b, num_tokens)
    logits = model(input_batch)  # (b, num_tokens, vocab_size)
    # cross_entropy wants one row of class scores per example: merge batch and positions.
    loss = torch.nn.functional.cross_entropy(
        logits.flatten(0, 1),  # (b * num_tokens, vocab_size)
        target_batch.flatten(),  # (b * num_tokens,)
    )
    return loss


def calc_loss_loader(data_loader, model, device, num_batches=None):
    """Mean of the per-batch losses over the first `num_batches` batches of `data_loader`.

    Args:
        data_loader: yields `(input_batch, target_batch)` pairs and has a `len()`.
        num_batches: how many batches to use; `None` means all of them. Asking for more batches
            than the loader has uses them all.

    Returns:
        A Python float; `float("nan")` when the loader is empty.
    """
    if len(data_loader) == 0:
        return float("nan")
    if num_batches is None:
        num_batches = len(data_loader)
    else:
        # Asking for more batches than there are must not shrink the average.
        num_batches = min(num_batches, len(data_loader))
    total_loss = 0.0
    for i, (input_batch, target_batch) in enumerate(data_loader):
        if i >= num_batches:
            break
        loss = calc_loss_batch(input_batch, target_batch, model, device)
        total_loss += loss.item()  # .item(): a float, so no graph is kept alive across batches
    return total_loss / num_batches


def perplexity(loss):
    """exp(loss): the number of tokens the model is, in effect, choosing among uniformly.

    Args:
        loss: a mean cross-entropy in nats, as a float or a 0-d tensor.

    Returns:
        A Python float.
    """
    return math.exp(float(loss))

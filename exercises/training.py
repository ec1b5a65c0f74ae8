"""Exercise 11: the pretraining loop (lesson: lessons/11-training.md).

Write `evaluate_model` and `train_model_simple`. The model is used only through
`model(idx) -> logits` of shape `(batch, num_tokens, vocab_size)`; `generate_and_print_sample`
(given complete below) also reads `model.pos_emb` for the context length. Use `calc_loss_batch` and
`calc_loss_loader` from your loss exercise (imported below).
"""
import torch

from exercises.decoding import text_to_token_ids, token_ids_to_text
from exercises.gpt_model import generate_text_simple
from exercises.loss import calc_loss_batch, calc_loss_loader


def evaluate_model(model, train_loader, val_loader, device, eval_iter):
    """Training and validation loss over the first `eval_iter` batches of each loader.

    Switch the model to `eval()`, compute both losses with `calc_loss_loader(...,
    num_batches=eval_iter)` without building a graph (`torch.no_grad()`), then switch the model back
    to `train()` before returning.

    Returns:
        `(train_loss, val_loss)`, two Python floats.
    """
    raise NotImplementedError


def generate_and_print_sample(model, tokenizer, device, start_context, max_new_tokens=50):
    """Print a greedy continuation of `start_context` on one line, then put the model back in `train()`.

    Given complete: call it once at the end of every epoch.
    """
    model.eval()
    context_size = model.pos_emb.weight.shape[0]  # the model's context length
    encoded = text_to_token_ids(start_context, tokenizer).to(device)  # (1, num_tokens)
    with torch.no_grad():
        token_ids = generate_text_simple(model, encoded, max_new_tokens, context_size)
    decoded = token_ids_to_text(token_ids, tokenizer)
    print(decoded.replace("\n", " "))  # one line keeps the training log readable
    model.train()


def train_model_simple(model, train_loader, val_loader, optimizer, device, num_epochs,
                       eval_freq, eval_iter, start_context, tokenizer):
    """Train for `num_epochs` passes over `train_loader`, one optimizer step per batch.

    For every batch: reset the gradients, compute the loss with `calc_loss_batch`, back-propagate,
    take an optimizer step, and add the number of tokens in the input batch
    (`input_batch.numel()`, i.e. batch_size * num_tokens) to a running count.

    Count optimizer steps globally from 0 (the first step is step 0). After the step whose number
    is a multiple of `eval_freq` (steps 0, eval_freq, 2*eval_freq, ...), call
    `evaluate_model(model, train_loader, val_loader, device, eval_iter)` and append its two losses
    and the tokens seen so far to the three lists. After each epoch, call
    `generate_and_print_sample(model, tokenizer, device, start_context)`.

    Returns:
        `(train_losses, val_losses, track_tokens_seen)`: three lists of the same length, one entry
        per evaluation (floats, floats, ints).
    """
    raise NotImplementedError

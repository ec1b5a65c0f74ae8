"""The pretraining loop: train a language model on next-token loss, evaluate it now and then, and
print a sample after each epoch.

The model is used only through its interface, `model(idx) -> logits` of shape
`(batch, num_tokens, vocab_size)`, plus `model.pos_emb` to read its context length for the sample.
No plotting, checkpointing or learning-rate schedule here: `tutor run pretrain` adds those.
"""
import torch

from exercises.decoding import text_to_token_ids, token_ids_to_text
from exercises.gpt_model import generate_text_simple
from exercises.loss import calc_loss_batch, calc_loss_loader


def evaluate_model(model, train_loader, val_loader, device, eval_iter):
    """Training and validation loss over the first `eval_iter` batches of each loader.

    Switches the model to `eval()` (no dropout), computes without gradients, and switches it back
    to `train()` before returning.

    Returns:
        `(train_loss, val_loss)`, two Python floats.
    """
    model.eval()
    with torch.no_grad():  # no graph: evaluation must not cost memory or touch .grad
        train_loss = calc_loss_loader(train_loader, model, device, num_batches=eval_iter)
        val_loss = calc_loss_loader(val_loader, model, device, num_batches=eval_iter)
    model.train()
    return train_loss, val_loss


def generate_and_print_sample(model, tokenizer, device, start_context, max_new_tokens=50):
    """Print a greedy continuation of `start_context` on one line, then put the model back in `train()`."""
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

    Every `eval_freq` steps (counting from step 0, so the first evaluation follows the first step)
    it records the training and validation loss over `eval_iter` batches and the number of tokens
    seen so far. After each epoch it prints a sample continuation of `start_context`.

    Returns:
        `(train_losses, val_losses, track_tokens_seen)`: three lists of the same length, one entry
        per evaluation.
    """
    train_losses, val_losses, track_tokens_seen = [], [], []
    tokens_seen, global_step = 0, -1

    for epoch in range(num_epochs):
        model.train()  # dropout on
        for input_batch, target_batch in train_loader:
            optimizer.zero_grad()  # gradients add up across backward() calls unless reset
            loss = calc_loss_batch(input_batch, target_batch, model, device)
            loss.backward()  # d loss / d parameter, into each parameter's .grad
            optimizer.step()  # update the parameters from their .grad
            tokens_seen += input_batch.numel()  # batch_size * num_tokens
            global_step += 1

            if global_step % eval_freq == 0:
                train_loss, val_loss = evaluate_model(model, train_loader, val_loader, device, eval_iter)
                train_losses.append(train_loss)
                val_losses.append(val_loss)
                track_tokens_seen.append(tokens_seen)
                print(f"Ep {epoch + 1} (Step {global_step:06d}): "
                      f"Train loss {train_loss:.3f}, Val loss {val_loss:.3f}")

        generate_and_print_sample(model, tokenizer, device, start_context)

    return train_losses, val_losses, track_tokens_seen

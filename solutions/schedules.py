"""Reference solution for the schedules exercise: learning-rate warm-up, cosine decay and gradient clipping.

`learning_rate` is the schedule as a plain function of the step: a linear ramp from `initial_lr` to
`peak_lr` over `warmup_steps`, then half a cosine wave down to `min_lr` at the last step. `train_model` is
the training loop of the training exercise with the schedule applied before every optimizer step, the
gradient norm clipped to 1.0 once warm-up is over, and each step's learning rate recorded.
"""

import math

import torch

from exercises.loss import calc_loss_batch
from exercises.training import evaluate_model, generate_and_print_sample


def learning_rate(step, total_steps, warmup_steps, peak_lr, initial_lr=3e-05, min_lr=1e-6):
    """The learning rate for optimizer step `step` (counted from 0) of `total_steps`."""
    if step < warmup_steps:
        # Linear warm-up: initial_lr at step 0, one equal increment per step towards peak_lr.
        return initial_lr + step * (peak_lr - initial_lr) / warmup_steps
    # Cosine decay: progress goes from 0 (end of warm-up) to 1 (the last step), cos from 1 to -1.
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return min_lr + (peak_lr - min_lr) * 0.5 * (1 + math.cos(math.pi * progress))


def train_model(model, train_loader, val_loader, optimizer, device, n_epochs, eval_freq, eval_iter,
                start_context, tokenizer, warmup_steps, initial_lr=3e-05, min_lr=1e-6):
    """train_model_simple with a warm-up + cosine schedule and gradient clipping.

    Returns:
        (train_losses, val_losses, track_tokens_seen, track_lrs): the first three one entry per
        evaluation, track_lrs one entry per optimizer step.
    """
    train_losses, val_losses, track_tokens_seen, track_lrs = [], [], [], []
    tokens_seen, global_step = 0, -1
    peak_lr = optimizer.param_groups[0]["lr"]  # the lr the optimizer was created with
    total_steps = len(train_loader) * n_epochs

    for epoch in range(n_epochs):
        model.train()
        for input_batch, target_batch in train_loader:
            optimizer.zero_grad()
            global_step += 1
            lr = learning_rate(global_step, total_steps, warmup_steps, peak_lr,
                               initial_lr=initial_lr, min_lr=min_lr)
            for param_group in optimizer.param_groups:  # set before the step that uses it
                param_group["lr"] = lr
            track_lrs.append(lr)

            loss = calc_loss_batch(input_batch, target_batch, model, device)
            loss.backward()
            if global_step >= warmup_steps:
                # Rescale all gradients together so their overall norm is at most 1.0. It has to
                # happen between backward() and step(): step() is what reads the gradients.
                torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
            optimizer.step()
            tokens_seen += input_batch.numel()

            if global_step % eval_freq == 0:
                train_loss, val_loss = evaluate_model(model, train_loader, val_loader, device, eval_iter)
                train_losses.append(train_loss)
                val_losses.append(val_loss)
                track_tokens_seen.append(tokens_seen)
                print(f"Ep {epoch + 1} (Step {global_step:06d}): "
                      f"Train loss {train_loss:.3f}, Val loss {val_loss:.3f}, lr {lr:.2e}")

        generate_and_print_sample(model, tokenizer, device, start_context)

    return train_losses, val_losses, track_tokens_seen, track_lrs

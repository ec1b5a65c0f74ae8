"""Exercise 19: learning-rate warm-up, cosine decay and gradient clipping (lesson: lessons/19-schedules.md).

Write the learning-rate schedule as a function of the step, then a training loop that applies it at
every step, clips the gradients once warm-up is over, and records the learning rate it used.
"""

import math

import torch

from exercises.loss import calc_loss_batch
from exercises.training import evaluate_model, generate_and_print_sample


def learning_rate(step, total_steps, warmup_steps, peak_lr, initial_lr=3e-05, min_lr=1e-6):
    """The learning rate of optimizer step `step` (0, 1, …, total_steps - 1), as a Python float.

    - warm-up, for step < warmup_steps: initial_lr + step * (peak_lr - initial_lr) / warmup_steps
      (initial_lr at step 0, a straight line towards peak_lr);
    - then cosine decay: min_lr + (peak_lr - min_lr) * 0.5 * (1 + cos(pi * progress)), with
      progress = (step - warmup_steps) / (total_steps - warmup_steps) (peak_lr at the end of warm-up,
      min_lr after the last step).
    warmup_steps may be 0 (no warm-up) or total_steps (warm-up only).
    """
    raise NotImplementedError


def train_model(model, train_loader, val_loader, optimizer, device, n_epochs, eval_freq, eval_iter,
                start_context, tokenizer, warmup_steps, initial_lr=3e-05, min_lr=1e-6):
    """train_model_simple (training exercise) with the schedule and gradient clipping.

    - peak_lr is the optimizer's learning rate when train_model starts
      (optimizer.param_groups[0]["lr"]); total_steps = len(train_loader) * n_epochs.
    - global_step counts optimizer steps from 0. Before each optimizer.step(), set every param
      group's "lr" to learning_rate(global_step, total_steps, warmup_steps, peak_lr,
      initial_lr=initial_lr, min_lr=min_lr) and append it to track_lrs.
    - From global_step == warmup_steps on, clip the gradient norm to 1.0
      (torch.nn.utils.clip_grad_norm_) after loss.backward() and before optimizer.step().
    - Evaluation as in train_model_simple: every eval_freq steps (from step 0) append both losses
      (evaluate_model) and the tokens seen; after each epoch, generate_and_print_sample.

    Returns:
        (train_losses, val_losses, track_tokens_seen, track_lrs).
    """
    raise NotImplementedError

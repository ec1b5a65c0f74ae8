"""Reference solution for the lora exercise: low-rank adaptation of a pretrained model's linear layers.

A frozen weight W gets a trainable low-rank update: the layer computes x @ W.T + b + (alpha / rank) · x @ A @ B,
with A (in_dim, rank) and B (rank, out_dim). B starts at zero, so before any training the adapted model
computes exactly what the pretrained one did; training then moves only A and B, a small fraction of the
parameters.
"""

import math

import torch
import torch.nn as nn


class LoRALayer(nn.Module):
    """The low-rank update alone: x (..., in_dim) -> (alpha / rank) · x @ A @ B, shape (..., out_dim)."""

    def __init__(self, in_dim, out_dim, rank, alpha):
        super().__init__()
        self.A = nn.Parameter(torch.empty(in_dim, rank))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))  # the init nn.Linear gives its weight
        self.B = nn.Parameter(torch.zeros(rank, out_dim))  # zero: the update starts as nothing
        self.alpha = alpha
        self.rank = rank

    def forward(self, x):
        # alpha / rank keeps the update's size about the same when you try another rank.
        return (self.alpha / self.rank) * (x @ self.A @ self.B)


class LinearWithLoRA(nn.Module):
    """An existing nn.Linear plus a LoRALayer of its shape: linear(x) + lora(x)."""

    def __init__(self, linear, rank, alpha):
        super().__init__()
        self.linear = linear
        self.lora = LoRALayer(linear.in_features, linear.out_features, rank, alpha)

    def forward(self, x):
        return self.linear(x) + self.lora(x)


def replace_linear_with_lora(model, rank, alpha):
    """Wrap every nn.Linear inside `model`, at any depth, in a LinearWithLoRA (in place).

    Freezing the pretrained weights is the caller's job: call `p.requires_grad_(False)` on all of
    them first, and only the new A and B matrices will train.
    """
    for name, module in model.named_children():
        if isinstance(module, nn.Linear):
            setattr(model, name, LinearWithLoRA(module, rank, alpha))
        else:
            replace_linear_with_lora(module, rank, alpha)  # look inside blocks, Sequentials, lists

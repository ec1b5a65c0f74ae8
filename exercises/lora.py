"""Exercise 18: LoRA, low-rank adaptation (lesson: lessons/18-lora.md).

Add a small trainable update to a model's linear layers, so that fine-tuning trains a tiny fraction
of the parameters while the pretrained weights stay frozen.
"""

import math

import torch
import torch.nn as nn


class LoRALayer(nn.Module):
    """The low-rank update: x (..., in_dim) -> (alpha / rank) · x @ A @ B, shape (..., out_dim).

    Attributes the checks rely on:
        A: nn.Parameter of shape (in_dim, rank), initialised with nn.init.kaiming_uniform_
            (a=math.sqrt(5), as nn.Linear does), so it is random and non-zero.
        B: nn.Parameter of shape (rank, out_dim), initialised to zeros.
        There are no other parameters.
    """

    def __init__(self, in_dim, out_dim, rank, alpha):
        super().__init__()
        raise NotImplementedError

    def forward(self, x):
        """(..., in_dim) -> (alpha / rank) * (x @ A @ B), shape (..., out_dim)."""
        raise NotImplementedError


class LinearWithLoRA(nn.Module):
    """Wraps an existing nn.Linear: forward(x) = linear(x) + lora(x).

    Attributes the checks rely on:
        linear: the nn.Linear it was given (the same object, not a copy).
        lora: LoRALayer(linear.in_features, linear.out_features, rank, alpha).
    """

    def __init__(self, linear, rank, alpha):
        super().__init__()
        raise NotImplementedError

    def forward(self, x):
        """(..., in_features) -> (..., out_features)."""
        raise NotImplementedError


def replace_linear_with_lora(model, rank, alpha):
    """Replace every nn.Linear inside `model`, at any depth, by LinearWithLoRA(that_linear, rank, alpha).

    In place: the model's submodules are swapped (setattr on the parent works for nn.Sequential,
    nn.ModuleList and plain attributes alike). What it returns is not checked. Freezing the base
    weights is the caller's job (freezing them here too is allowed); A and B must stay trainable.
    """
    raise NotImplementedError

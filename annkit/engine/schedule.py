"""The paper's optimiser and learning-rate schedule: SGD (momentum 0.9, weight decay) with "poly" decay.
AdamW is offered for short from-scratch CPU runs (the quickstart), where SGD needs many more iterations.

poly: lr(it) = (base_lr − min_lr) · (1 − it / iterations)^power + min_lr, power 0.9 (Zhu et al. 2019, Sec. 4.1;
mmsegmentation's ``PolyLR``). It is a ``LambdaLR``, so its state (the step count) goes into checkpoints.
"""

from __future__ import annotations

import torch
from torch import nn

from annkit.config import TrainConfig


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """SGD (or AdamW) over every trainable parameter with the configured lr, momentum and weight decay."""
    opt = config.optimizer
    params = [p for p in model.parameters() if p.requires_grad]
    if opt.name == "adamw":
        return torch.optim.AdamW(params, lr=opt.lr, betas=(opt.momentum, 0.999), weight_decay=opt.weight_decay)
    return torch.optim.SGD(params, lr=opt.lr, momentum=opt.momentum, weight_decay=opt.weight_decay)


def poly_factor(iteration: int, iterations: int, power: float, base_lr: float, min_lr: float) -> float:
    """lr(iteration) / base_lr under the poly schedule."""
    progress = min(iteration, iterations) / iterations
    return ((base_lr - min_lr) * (1 - progress) ** power + min_lr) / base_lr


def build_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig) -> torch.optim.lr_scheduler.LambdaLR:
    """Poly decay over ``config.iterations`` steps (call ``step()`` once per iteration)."""
    s, base = config.schedule, config.optimizer.lr
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda it: poly_factor(it, config.iterations, s.power, base, s.min_lr)
    )

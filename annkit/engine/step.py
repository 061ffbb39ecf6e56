"""One training iteration of the paper's recipe: the step ``annkit train`` takes and the benchmarks time.

forward (autocast when mixed precision is on) → OHEM CE on the main logits + ``aux_weight`` · CE on the auxiliary
logits (``SegmentationLoss``) → backward (gradients scaled for fp16, so small ones do not underflow) → optional
clipping of the global gradient norm → optimiser step. ``annkit.engine.trainer`` runs it between its checks and
logs; ``annkit.bench.train`` and ``annkit bench model --mode train`` time exactly this step.
"""

from __future__ import annotations

import torch
from torch import nn

from annkit.config import ModelConfig, TrainConfig
from annkit.engine.loss import SegmentationLoss
from annkit.engine.schedule import build_optimizer


def amp_dtype(config: TrainConfig, model_config: ModelConfig, device: torch.device) -> torch.dtype | None:
    """Training's autocast dtype: ``model.runtime.amp_dtype`` (default float16) on CUDA when ``train.amp``; None
    (fp32) on other devices."""
    if not config.amp or device.type != "cuda":
        return None
    return getattr(torch, model_config.runtime.amp_dtype or "float16")


class TrainStep:
    """The training step (see the module docstring) of ``net`` with ``optimizer`` and ``criterion``.

    ``loss`` and ``update`` are its two halves, so a caller can look at the loss in between (the trainer stops on
    a non-finite one); calling the step runs both. ``scaler`` is the fp16 gradient scaler, whose state a
    checkpoint keeps.
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer: torch.optim.Optimizer,
        criterion: SegmentationLoss,
        dtype: torch.dtype | None = None,
        grad_clip: float | None = None,
    ) -> None:
        self.net, self.optimizer, self.criterion = net, optimizer, criterion
        self.dtype, self.grad_clip = dtype, grad_clip
        self.device = next(net.parameters()).device
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=dtype == torch.float16)

    @classmethod
    def of(cls, model: nn.Module, config: TrainConfig, dtype: torch.dtype | None, net: nn.Module | None = None):
        """The step ``config`` describes for ``model`` (its optimiser, loss and clipping), with autocast to ``dtype``
        (``amp_dtype`` gives training's); ``net`` is the model as it runs, e.g. wrapped in DDP."""
        net = net if net is not None else model
        criterion = SegmentationLoss(config.loss, config.aux_weight)
        return cls(net, build_optimizer(model, config), criterion, dtype, config.grad_clip)

    def autocast(self) -> torch.autocast:
        """Mixed precision as the step runs it: autocast to ``dtype`` on the model's device; off for None (fp32)."""
        return torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype is not None)

    def loss(self, inputs: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Forward and loss: images (B, 3, H, W), class ids (B, H, W) → (total loss, detached parts)."""
        with self.autocast():
            output = self.net(inputs)  # logits (B, K, H, W), aux_logits (B, K, H, W) or None
        return self.criterion(output.logits, output.aux_logits, target)

    def update(self, loss: torch.Tensor) -> None:
        """Backward from ``loss`` and one optimiser step (gradients scaled for fp16, clipped if configured)."""
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.net.parameters(), self.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()

    def __call__(self, inputs: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """One whole step; returns the loss and its parts."""
        loss, parts = self.loss(inputs, target)
        self.update(loss)
        return loss, parts

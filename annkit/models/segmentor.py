"""``Segmentor``: backbone + head (+ auxiliary head), the whole network of the paper's Fig. 1.

In eval mode it returns class logits resized (bilinear) to the input size; in training mode it returns
``SegmentorOutput(logits, aux_logits)``, both at input size, so the loss can weight the auxiliary head (0.4 in
the paper, on stage 4) without knowing the architecture.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


class SegmentorOutput(NamedTuple):
    """Training-mode output: main logits (B, K, H, W) and auxiliary logits (B, K, H, W) or None."""

    logits: torch.Tensor
    aux_logits: torch.Tensor | None


class Segmentor(nn.Module):
    """Semantic segmentation network: ``backbone(images)`` → feature tuple → ``head`` → logits at input size.

    ``images``: (B, 3, H, W), normalised with ``normalize`` (RGB in [0, 1] → (x − mean) / std). Any H, W: the
    backbone rounds up to output stride 8 and logits are resampled back with ``align_corners`` as configured
    (mmsegmentation: False except its 769×769 Cityscapes models; the official code: True).
    """

    def __init__(self, backbone: nn.Module, head: nn.Module, aux_head: nn.Module | None = None, *,
                 align_corners: bool = False, mean: tuple[float, ...] = (0.485, 0.456, 0.406),
                 std: tuple[float, ...] = (0.229, 0.224, 0.225)) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.aux_head = aux_head
        self.align_corners = align_corners
        self.mean, self.std = tuple(mean), tuple(std)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """RGB images in [0, 1], (B, 3, H, W) → the network's input, (images − mean) / std per channel."""
        mean = images.new_tensor(self.mean).view(1, -1, 1, 1)
        std = images.new_tensor(self.std).view(1, -1, 1, 1)
        return (images - mean) / std

    def _resize(self, logits: torch.Tensor, size: torch.Size) -> torch.Tensor:
        return F.interpolate(logits, size=size, mode="bilinear", align_corners=self.align_corners)

    def forward(self, images: torch.Tensor) -> torch.Tensor | SegmentorOutput:
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"Segmentor expects images of shape (B, 3, H, W), got {tuple(images.shape)}")
        size = images.shape[-2:]
        features = self.backbone(images)  # (c2, …, c4, c5), stages 4 and 5 at H/8 × W/8
        logits = self._resize(self.head(features), size)  # (B, K, H, W)
        if not self.training:
            return logits
        aux = self._resize(self.aux_head(features), size) if self.aux_head is not None else None
        return SegmentorOutput(logits, aux)

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

from annkit.config import CHANNEL_ORDERS, IMAGENET_MEAN, IMAGENET_STD


class SegmentorOutput(NamedTuple):
    """Training-mode output: main logits (B, K, H, W) and auxiliary logits (B, K, H, W) or None."""

    logits: torch.Tensor
    aux_logits: torch.Tensor | None


class Segmentor(nn.Module):
    """Semantic segmentation network: ``backbone(images)`` → feature tuple → ``head`` → logits at input size.

    ``images``: (B, 3, H, W), prepared with ``normalize`` (RGB in [0, 1] → (x − mean) / std, in the network's
    channel order). Any H, W: the backbone rounds up to output stride 8 and logits are resampled back with
    ``align_corners`` as configured (mmsegmentation: False except its 769×769 Cityscapes models; the official
    code: True). ``mean``/``std`` are listed R, G, B; ``channel_order="BGR"`` (the official ANN models) reverses
    the channels after normalising.
    """

    def __init__(
        self,
        backbone: nn.Module,
        head: nn.Module,
        aux_head: nn.Module | None = None,
        *,
        align_corners: bool = False,
        mean: tuple[float, ...] = IMAGENET_MEAN,
        std: tuple[float, ...] = IMAGENET_STD,
        channel_order: str = "RGB",
    ) -> None:
        super().__init__()
        if channel_order not in CHANNEL_ORDERS:
            raise ValueError(f"channel_order must be one of {CHANNEL_ORDERS}, got {channel_order!r}")
        self.backbone = backbone
        self.head = head
        self.aux_head = aux_head
        self.align_corners = align_corners
        self.mean, self.std, self.channel_order = tuple(mean), tuple(std), channel_order

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """RGB images in [0, 1], (B, 3, H, W) → the network's input: (images − mean) / std per channel, then
        reversed to B, G, R for a BGR network (the official ANN models: BGR 0–255 minus [102.98, 115.95, 122.77])."""
        mean = images.new_tensor(self.mean).view(1, -1, 1, 1)
        std = images.new_tensor(self.std).view(1, -1, 1, 1)
        normalized = (images - mean) / std  # (B, 3, H, W), R, G, B
        return normalized.flip(1) if self.channel_order == "BGR" else normalized

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

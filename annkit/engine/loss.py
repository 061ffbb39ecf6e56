"""Losses of the paper's recipe: OHEM cross-entropy on the main output plus 0.4 × cross-entropy on the auxiliary.

OHEM (online hard example mining, as in the official ANN code's ``OhemCrossEntropy2d``): keep only the pixels the
model finds hard — true-class probability below ``threshold`` (0.7) — but at least ``min_kept`` pixels (the
hardest ones, by that probability), then average their cross-entropy. Pixels labelled ``ignore_index`` (255)
never count. With ``min_kept`` ≥ the number of valid pixels OHEM is plain cross-entropy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from annkit.config import LossConfig


class OhemCrossEntropy(nn.Module):
    """Cross-entropy over the hard pixels: p(true class) < ``threshold``, at least ``min_kept`` of them."""

    def __init__(self, threshold: float = 0.7, min_kept: int = 100000, ignore_index: int = 255) -> None:
        super().__init__()
        self.threshold, self.min_kept, self.ignore_index = threshold, min_kept, ignore_index

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # logits (B, K, H, W), target (B, H, W) int64
        pixel_loss = F.cross_entropy(logits, target, ignore_index=self.ignore_index, reduction="none").flatten()
        valid = target.flatten() != self.ignore_index  # (B·H·W,)
        with torch.no_grad():
            true_prob = torch.exp(-pixel_loss.detach())  # p(true class) = exp(−CE)
            true_prob[~valid] = float("inf")  # ignored pixels are never hard
            num_valid = int(valid.sum())
            threshold = self.threshold
            if self.min_kept > 0 and num_valid > 0:  # raise the threshold: at least min_kept stay (all, if fewer)
                kth = torch.kthvalue(true_prob[valid], min(self.min_kept, num_valid)).values
                threshold = max(threshold, float(kth))
            hard = valid & (true_prob <= threshold)
        if not bool(hard.any()):
            return pixel_loss.sum() * 0.0  # nothing valid: zero loss that still has a graph
        return pixel_loss[hard].mean()


class SegmentationLoss(nn.Module):
    """main_loss(logits) + ``aux_weight`` · CE(aux_logits): the paper's total training loss.

    Returns ``(total, parts)`` where ``parts`` holds detached ``main`` and ``aux`` terms for logging.
    """

    def __init__(self, config: LossConfig, aux_weight: float = 0.4) -> None:
        super().__init__()
        if config.name == "ohem":
            self.main = OhemCrossEntropy(config.threshold, config.min_kept, config.ignore_index)
        else:
            self.main = nn.CrossEntropyLoss(ignore_index=config.ignore_index)
        self.aux = nn.CrossEntropyLoss(ignore_index=config.ignore_index)
        self.aux_weight = aux_weight

    def forward(
        self, logits: torch.Tensor, aux_logits: torch.Tensor | None, target: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        main = self.main(logits.float(), target)
        parts = {"main": main.detach()}
        total = main
        if aux_logits is not None and self.aux_weight:
            aux = self.aux(aux_logits.float(), target)
            parts["aux"] = aux.detach()
            total = total + self.aux_weight * aux
        return total, parts

"""Segmentation metrics from a confusion matrix: per-class IoU, mIoU (the paper's score), pixel accuracy.

C[t, p] counts pixels of true class t predicted as p (ignored pixels, label 255, are left out).
IoU_k = C[k,k] / (Σ_p C[k,p] + Σ_t C[t,k] − C[k,k]); mIoU averages IoU over the classes that occur in the
ground truth or the prediction (classes absent from both are NaN and skipped, as mmsegmentation does);
pixel accuracy = trace(C) / ΣC.
"""

from __future__ import annotations

import math

import torch


class ConfusionMatrix:
    """Accumulates a (K, K) int64 confusion matrix over batches; ``all_reduce`` sums it over DDP processes."""

    def __init__(self, num_classes: int, ignore_index: int = 255, device: str | torch.device = "cpu") -> None:
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)

    def update(self, prediction: torch.Tensor, target: torch.Tensor) -> None:
        """Add predictions (…, H, W) of class ids against targets of the same shape."""
        if prediction.shape != target.shape:
            raise ValueError(f"prediction {tuple(prediction.shape)} and target {tuple(target.shape)} differ in shape")
        valid = target != self.ignore_index
        target, prediction = target[valid].long(), prediction[valid].long()
        if target.numel() and int(target.max()) >= self.num_classes:
            raise ValueError(
                f"target holds class {int(target.max())}; expected ids < {self.num_classes} or {self.ignore_index}"
            )
        index = target * self.num_classes + prediction.to(self.matrix.device)
        self.matrix += torch.bincount(index.to(self.matrix.device), minlength=self.num_classes**2).view(
            self.num_classes, self.num_classes
        )

    def all_reduce(self) -> None:
        """Sum the matrix over every process of the default process group (no-op when not distributed)."""
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(self.matrix)

    def iou(self) -> list[float]:
        """Per-class IoU; NaN for classes that appear neither in the targets nor in the predictions."""
        m = self.matrix.double().cpu()
        union = m.sum(0) + m.sum(1) - m.diag()
        return [float(i / u) if u > 0 else math.nan for i, u in zip(m.diag(), union)]

    def summary(self, class_names: tuple[str, ...] | None = None) -> dict:
        """``{"miou", "pixel_accuracy", "iou": {class name: IoU}}``."""
        iou = self.iou()
        present = [v for v in iou if not math.isnan(v)]
        names = class_names or tuple(str(k) for k in range(self.num_classes))
        total = int(self.matrix.sum())
        return {
            "miou": sum(present) / len(present) if present else math.nan,
            "pixel_accuracy": float(self.matrix.diag().sum()) / total if total else math.nan,
            "iou": dict(zip(names, iou)),
        }

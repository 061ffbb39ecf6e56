"""Evaluation: test-time resize, whole-image or sliding-window inference, multi-scale + flip, and mIoU.

The paper reports single-scale and multi-scale + flip scores (Zhu et al. 2019, Sec. 4; mmsegmentation's
``aug_test``): for each scale ratio r the image is resized — to fit the keep-ratio bound r·``resize`` when the
protocol has one (mmseg: (2048, 512) for VOC/ADE20K; mmcv's ``rescale_size``), else by r — optionally padded at
the bottom/right (PaddleSeg's VOC), optionally flipped left–right, and segmented; the logits are resized back to
the original size (bilinear, the protocol's ``align_corners``) and their softmax probabilities averaged. Scores
are therefore always taken at the original resolution, as mmseg and PaddleSeg do. Large images are segmented in
overlapping ``crop`` windows every ``stride`` px (mmsegmentation's ``slide`` mode); overlapping logits are
averaged.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from annkit.config import EvalConfig
from annkit.data.geometric import rescale_size
from annkit.engine.metrics import ConfusionMatrix
from annkit.errors import UserError


def non_finite(model: nn.Module) -> list[str]:
    """Names of the parameters and floating-point buffers of ``model`` holding NaN or ±inf (a diverged run)."""
    tensors = [*model.named_parameters(), *model.named_buffers()]
    return [name for name, t in tensors if t.is_floating_point() and not bool(torch.isfinite(t).all())]


def check_finite(model: nn.Module) -> None:
    """Refuse a model with non-finite weights: its scores and predictions would mean nothing."""
    broken = non_finite(model)
    if broken:
        raise UserError(
            f"the model has non-finite weights (NaN or inf in {len(broken)} tensors, e.g. {broken[0]}): "
            "it comes from a diverged training and cannot be evaluated or used for prediction"
        )


def slide_logits(
    model: nn.Module, images: torch.Tensor, crop: tuple[int, int], stride: tuple[int, int], num_classes: int
) -> torch.Tensor:
    """Logits (B, K, H, W) from ``crop``-sized windows every ``stride`` px; the last window sits flush with the
    border, overlaps are averaged. Images smaller than ``crop`` are one window."""
    batch, _, height, width = images.shape
    (crop_h, crop_w), (stride_h, stride_w) = crop, stride
    rows = max(height - crop_h + stride_h - 1, 0) // stride_h + 1
    cols = max(width - crop_w + stride_w - 1, 0) // stride_w + 1
    logits = images.new_zeros(batch, num_classes, height, width)
    count = images.new_zeros(1, 1, height, width)
    for row in range(rows):
        for col in range(cols):
            y1, x1 = min(row * stride_h, max(height - crop_h, 0)), min(col * stride_w, max(width - crop_w, 0))
            y2, x2 = min(y1 + crop_h, height), min(x1 + crop_w, width)
            logits[:, :, y1:y2, x1:x2] += model(images[:, :, y1:y2, x1:x2]).float()
            count[:, :, y1:y2, x1:x2] += 1
    return logits / count


def inference_size(height: int, width: int, config: EvalConfig, ratio: float) -> tuple[int, int]:
    """(H, W) an H×W image is segmented at for scale ``ratio``: the keep-ratio fit to ``ratio · resize`` (mmseg's
    ``img_ratios``: bound (int(a·r), int(b·r))), the exact ``ratio · resize`` as (W, H) without keep_ratio, or
    (int(H·r + 0.5), int(W·r + 0.5)) without a resize (PaddleSeg's ``aug_inference``)."""
    if config.resize is None:
        return int(height * ratio + 0.5), int(width * ratio + 0.5)
    bound = (int(config.resize[0] * ratio), int(config.resize[1] * ratio))
    return rescale_size(height, width, bound) if config.keep_ratio else (bound[1], bound[0])


def _segment(model: nn.Module, images: torch.Tensor, config: EvalConfig, num_classes: int) -> torch.Tensor:
    """Logits (B, K, h, w) of images (B, 3, h, w), padded first to ``config.pad`` (bottom/right, 0 = mean colour)."""
    height, width = images.shape[-2:]
    if config.pad is not None:
        images = F.pad(images, (0, max(config.pad[1] - width, 0), 0, max(config.pad[0] - height, 0)))
    if config.mode == "slide":
        logits = slide_logits(model, images, tuple(config.crop), tuple(config.stride), num_classes)
    else:
        logits = model(images).float()
    return logits[..., :height, :width]


@torch.no_grad()
def predict_probabilities(model: nn.Module, images: torch.Tensor, config: EvalConfig, num_classes: int) -> torch.Tensor:
    """Class probabilities (B, K, H, W) of normalised images (B, 3, H, W), averaged over scales and flips."""
    size = images.shape[-2:]
    align_corners = config.align_corners if config.align_corners is not None else getattr(model, "align_corners", False)
    total = images.new_zeros(images.shape[0], num_classes, *size, dtype=torch.float32)
    for scale in config.scales:
        target = inference_size(*size, config, scale)
        scaled = (
            images
            if target == tuple(size)
            else F.interpolate(images, size=target, mode="bilinear", align_corners=False)
        )
        for flip in (False, True) if config.flip else (False,):
            view = scaled.flip(-1) if flip else scaled
            logits = _segment(model, view, config, num_classes)
            logits = logits.flip(-1) if flip else logits
            if logits.shape[-2:] != size:
                logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=align_corners)
            total += logits.softmax(1)
    return total / (len(config.scales) * (2 if config.flip else 1))


@torch.no_grad()
def evaluate(
    model: nn.Module,
    dataset,
    config: EvalConfig,
    num_classes: int,
    *,
    device: str | torch.device = "cpu",
    class_names: tuple[str, ...] | None = None,
    ignore_index: int = 255,
    rank: int = 0,
    world_size: int = 1,
    autocast: contextlib.AbstractContextManager | None = None,
) -> dict:
    """mIoU, per-class IoU and pixel accuracy of ``model`` on ``dataset`` (samples with normalised images).

    Images go one at a time (their sizes may differ). With ``world_size`` > 1 each process takes every
    ``world_size``-th image and the confusion matrices are summed over processes.
    """
    check_finite(model)
    was_training = model.training
    model.eval()
    matrix = ConfusionMatrix(num_classes, ignore_index, device=device)
    count = len(dataset) if config.max_images is None else min(config.max_images, len(dataset))
    for index in range(rank, count, world_size):
        sample = dataset[index]
        image = torch.as_tensor(sample["image"]).unsqueeze(0).to(device)  # (1, 3, H, W)
        with autocast or contextlib.nullcontext():
            probabilities = predict_probabilities(model, image, config, num_classes)
        matrix.update(probabilities.argmax(1)[0], torch.as_tensor(sample["mask"]).to(device))
    matrix.all_reduce()
    model.train(was_training)
    return matrix.summary(class_names)

"""Joint image/mask augmentation for segmentation: mmsegmentation's recipe on ``torchvision.transforms.v2``.

v2 transforms treat a ``tv_tensors.Mask`` as labels: geometric ops move it with the image (nearest-neighbour
resizing, crop, flip) and photometric ops and normalisation leave it alone, so the whole sample dict goes through
one pipeline and stays aligned.

The training recipe is mmsegmentation's (used for ANN's zoo results), in its order: random keep-ratio rescale
(``RandomResize(scale, ratio_range=(0.5, 2.0))``: the long edge ≤ max(scale)·r, the short edge ≤ min(scale)·r;
scale (2048, 512) for VOC/ADE20K, (2048, 1024) for Cityscapes), random crop with ``cat_max_ratio`` 0.75,
horizontal flip, photometric distortion, normalisation, then padding at the bottom/right to the crop size (mean
colour / 255). The exact rules are in ``annkit.data.geometric``. Validation only converts and normalises; the
test-time resize of a checkpoint's protocol happens in the evaluator (``annkit.engine.evaluate``). For the
synthetic set, train with ``train_transforms(crop_size=None, scale_range=None, photometric=False)``: rescaling
would change the cue distance in pixels, cropping could cut the cue away, and hue jitter would change the cue's
colour — the label.
"""

from __future__ import annotations

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from annkit.config import IMAGENET_MEAN, IMAGENET_STD  # one definition (RGB, fraction of 255); re-exported
from annkit.data.geometric import CatMaxRatioCrop, PadTo, RandomKeepRatioResize


def _reverse_channels(image: tv_tensors.Image) -> tv_tensors.Image:
    """(3, H, W) RGB → BGR, the order the official ANN models read (a module-level function: workers pickle it)."""
    return tv_tensors.wrap(image.flip(0), like=image)


def _to_float_and_normalize(mean, std, channel_order: str = "RGB") -> list[v2.Transform]:
    """uint8 image → float normalised (3, H, W), channels in the model's ``channel_order`` (``mean``/``std`` are
    per R, G, B, as in ``ModelConfig``); uint8 mask → int64 (H, W) for the loss."""
    if channel_order not in ("RGB", "BGR"):
        raise ValueError(f"channel_order must be 'RGB' or 'BGR', got {channel_order!r}")
    steps = [
        v2.ToDtype({tv_tensors.Image: torch.float32, tv_tensors.Mask: torch.int64, "others": None}, scale=True),
        v2.Normalize(mean, std),
    ]
    return steps + ([v2.Lambda(_reverse_channels, tv_tensors.Image)] if channel_order == "BGR" else [])


def train_transforms(
    crop_size: int | tuple[int, int] | None = 512,
    scale_range: tuple[float, float] | None = (0.5, 2.0),
    scale_target: tuple[int, int] = (2048, 512),
    flip: bool = True,
    photometric: bool = True,
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
    cat_max_ratio: float = 0.75,
    channel_order: str = "RGB",
) -> v2.Compose:
    """Random training augmentation of a sample dict; ``None``/``False`` switches a step off.

    Steps: keep-ratio rescale to fit (int(a·r), int(b·r)) for ``scale_target`` (a, b), r ~ U(scale_range);
    random ``crop_size`` (H, W, or one int for a square) crop, redrawn while one class covers ≥ ``cat_max_ratio``
    of it; horizontal flip with p = 0.5; colour jitter with p = 0.5 (brightness ±12.5 %, contrast and saturation
    ×0.5–1.5, hue ±0.05); uint8 → float, normalisation (then BGR if ``channel_order`` says so); pad to the crop size at the bottom/right (mean colour,
    mask 255). Output: image (3, H, W) float32, mask (H, W) int64.
    """
    crop = (crop_size, crop_size) if isinstance(crop_size, int) else crop_size
    steps: list = []
    if scale_range is not None:
        steps.append(RandomKeepRatioResize(scale_target, scale_range))
    if crop is not None:
        steps.append(CatMaxRatioCrop(crop, cat_max_ratio))
    if flip:
        steps.append(v2.RandomHorizontalFlip())
    if photometric:
        steps.append(v2.RandomApply([v2.ColorJitter(brightness=0.125, contrast=0.5, saturation=0.5, hue=0.05)]))
    steps += _to_float_and_normalize(mean, std, channel_order)
    if crop is not None:
        steps.append(PadTo(crop))
    return v2.Compose(steps)


def eval_transforms(
    mean: tuple[float, ...] = IMAGENET_MEAN, std: tuple[float, ...] = IMAGENET_STD, channel_order: str = "RGB"
) -> v2.Compose:
    """Validation/test transform: no random ops, only uint8 → float, normalisation (BGR if asked), mask → int64."""
    return v2.Compose(_to_float_and_normalize(mean, std, channel_order))


def denormalize(
    image: torch.Tensor, mean: tuple[float, ...] = IMAGENET_MEAN, std: tuple[float, ...] = IMAGENET_STD
) -> torch.Tensor:
    """Undo the normalisation for display: (..., 3, H, W) float → uint8 RGB."""
    mean_t = torch.tensor(mean, device=image.device).view(3, 1, 1)
    std_t = torch.tensor(std, device=image.device).view(3, 1, 1)
    return (image * std_t + mean_t).mul(255).round().clamp(0, 255).to(torch.uint8)

"""Joint image/mask augmentation for segmentation, built from ``torchvision.transforms.v2``.

v2 transforms treat a ``tv_tensors.Mask`` as labels: geometric ops move it with the image (nearest-neighbour
resizing, crop, flip, ``fill`` of 255 where padding adds pixels) and photometric ops and normalisation leave
it alone, so the whole sample dict goes through one pipeline and stays aligned.

The VOC training recipe follows mmsegmentation's (used for ANN's VOC12aug results): random rescale with
ratio 0.5–2.0 of the scale 2048×512 (W×H; short side of a VOC image ≈ 512·ratio), random 512×512 crop padded with the mean colour
(image) and 255 (mask), horizontal flip, photometric distortion, ImageNet normalisation. Validation only
converts and normalises. For the synthetic set, train with ``train_transforms(crop_size=None,
scale_range=None, photometric=False)``: rescaling would change the cue distance in pixels, cropping could
cut the cue away, and hue jitter would change the cue's colour — the label.
"""

from __future__ import annotations

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from annkit.config import IMAGENET_MEAN, IMAGENET_STD  # one definition (RGB, fraction of 255); re-exported


def _to_float_and_normalize(mean, std) -> list[v2.Transform]:
    """uint8 image → float normalised (3, H, W); uint8 mask → int64 (H, W) for the loss."""
    return [v2.ToDtype({tv_tensors.Image: torch.float32, tv_tensors.Mask: torch.int64, "others": None}, scale=True),
            v2.Normalize(mean, std)]


def train_transforms(crop_size: int | None = 512, scale_range: tuple[float, float] | None = (0.5, 2.0),
                     scale_target: tuple[int, int] = (2048, 512), flip: bool = True, photometric: bool = True,
                     mean: tuple[float, ...] = IMAGENET_MEAN, std: tuple[float, ...] = IMAGENET_STD) -> v2.Compose:
    """Random training augmentation of a sample dict; ``None``/``False`` switches a step off.

    Steps: rescale keeping the aspect ratio to fit ``r · scale_target`` (W, H; as mmseg's ``img_scale``),
    r ~ U(scale_range);
    random ``crop_size`` square crop, padded first if smaller (mean colour / 255); horizontal flip with
    p = 0.5; colour jitter with p = 0.5 (brightness ±12.5 %, contrast and saturation ×0.5–1.5, hue ±0.05);
    uint8 → float, ImageNet normalisation. Output: image (3, crop, crop) float32, mask (crop, crop) int64.
    """
    steps: list[v2.Transform] = []
    if scale_range is not None:
        steps.append(v2.ScaleJitter(scale_target, scale_range=scale_range, antialias=True))
    if crop_size is not None:
        mean_colour = [round(255 * m) for m in mean]
        steps.append(v2.RandomCrop(crop_size, pad_if_needed=True,
                                   fill={tv_tensors.Image: mean_colour, tv_tensors.Mask: 255, "others": 0}))
    if flip:
        steps.append(v2.RandomHorizontalFlip())
    if photometric:
        steps.append(v2.RandomApply([v2.ColorJitter(brightness=0.125, contrast=0.5, saturation=0.5, hue=0.05)]))
    return v2.Compose(steps + _to_float_and_normalize(mean, std))


def eval_transforms(mean: tuple[float, ...] = IMAGENET_MEAN, std: tuple[float, ...] = IMAGENET_STD) -> v2.Compose:
    """Validation/test transform: no random ops, only uint8 → float, normalisation, mask → int64."""
    return v2.Compose(_to_float_and_normalize(mean, std))


def denormalize(image: torch.Tensor, mean: tuple[float, ...] = IMAGENET_MEAN,
                std: tuple[float, ...] = IMAGENET_STD) -> torch.Tensor:
    """Undo the normalisation for display: (..., 3, H, W) float → uint8 RGB."""
    mean_t = torch.tensor(mean, device=image.device).view(3, 1, 1)
    std_t = torch.tensor(std, device=image.device).view(3, 1, 1)
    return (image * std_t + mean_t).mul(255).round().clamp(0, 255).to(torch.uint8)

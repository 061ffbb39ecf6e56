"""mmsegmentation's geometric augmentation, exactly: keep-ratio rescale, ``cat_max_ratio`` crop, bottom/right pad.

The checkpoints annkit loads were trained and evaluated with these rules (mmcv ``rescale_size`` / ``imrescale``,
mmcv ``RandomResize``, mmseg ``RandomCrop``, mmseg ``Pad``), so annkit follows them to the pixel count:

- **keep-ratio rescale to a scale (a, b)**: the bound is on the edges, not on height and width: the long edge
  may reach max(a, b) and the short edge min(a, b); factor = min(max(a,b) / long, min(a,b) / short), new edge =
  int(edge · factor + 0.5). A 500×375 (H×W) VOC portrait fits (2048, 512) as 683×512; a 375×500 landscape as
  512×683; a 1024×2048 Cityscapes frame fits (2049, 1025) as 1025×2049.
- **random rescale** (``RandomResize(scale, ratio_range)``): r ~ U(ratio_range), then the keep-ratio rescale to
  (int(a·r), int(b·r)).
- **crop with ``cat_max_ratio``**: a random ``crop``-sized window (offset uniform in 0..max(H − h, 0)); while the
  window's most frequent non-ignored label covers ≥ ``cat_max_ratio`` of its non-ignored pixels, or it holds fewer
  than two labels, draw again — at most 10 checks, then the 11th window is taken unchecked. An image smaller than
  the crop keeps its size here; ``PadTo`` pads it at the bottom and right after normalisation (image 0 = the mean
  colour, mask 255), as mmseg's ``Pad`` does.

Pixels: images are resampled bilinearly without antialiasing (OpenCV's ``INTER_LINEAR``, half-pixel centres),
masks by nearest neighbour with source index floor(dst · src / dst_size) (OpenCV's ``INTER_NEAREST``; PyTorch's
``nearest`` is the same rule). OpenCV interpolates uint8 in 11-bit fixed point, torchvision in float: values may
differ by one grey level.
"""

from __future__ import annotations

import torch
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from annkit.data.palette import IGNORE_INDEX


def rescale_size(height: int, width: int, scale: tuple[int, int]) -> tuple[int, int]:
    """mmcv's ``rescale_size``: the (H, W) of an H×W image rescaled, aspect ratio kept, to fit edge bounds ``scale``
    (either order: the larger number bounds the long edge, the smaller the short edge)."""
    if height < 1 or width < 1 or min(scale) < 1:
        raise ValueError(f"rescale_size needs positive sizes, got image {height}×{width} and scale {scale}")
    factor = min(max(scale) / max(height, width), min(scale) / min(height, width))
    return int(height * factor + 0.5), int(width * factor + 0.5)


def resize_sample(sample: dict, size: tuple[int, int]) -> dict:
    """The sample resized to ``size`` (H, W): image bilinear without antialiasing, mask nearest."""
    out = dict(sample)
    out["image"] = TF.resize(sample["image"], list(size), InterpolationMode.BILINEAR, antialias=False)
    if sample.get("mask") is not None:
        out["mask"] = TF.resize(sample["mask"], list(size), InterpolationMode.NEAREST)
    return out


class KeepRatioResize:
    """Deterministic keep-ratio rescale of a sample to fit ``scale`` (mmseg's test-time ``Resize(keep_ratio=True)``)."""

    def __init__(self, scale: tuple[int, int]) -> None:
        self.scale = tuple(scale)

    def __call__(self, sample: dict) -> dict:
        height, width = sample["image"].shape[-2:]
        return resize_sample(sample, rescale_size(height, width, self.scale))


class RandomKeepRatioResize:
    """mmseg's training ``RandomResize(scale, ratio_range, keep_ratio=True)``: r ~ U(ratio_range) from the torch RNG,
    then the keep-ratio rescale to (int(scale[0]·r), int(scale[1]·r))."""

    def __init__(self, scale: tuple[int, int], ratio_range: tuple[float, float]) -> None:
        if not 0 < ratio_range[0] <= ratio_range[1]:
            raise ValueError(f"ratio_range must be (low, high) with 0 < low <= high, got {ratio_range}")
        self.scale, self.ratio_range = tuple(scale), tuple(ratio_range)

    def __call__(self, sample: dict) -> dict:
        low, high = self.ratio_range
        ratio = float(torch.rand((), dtype=torch.float64)) * (high - low) + low
        bound = (int(self.scale[0] * ratio), int(self.scale[1] * ratio))
        height, width = sample["image"].shape[-2:]
        return resize_sample(sample, rescale_size(height, width, bound))


class CatMaxRatioCrop:
    """mmseg's ``RandomCrop(crop_size, cat_max_ratio)``: a random (h, w) window, redrawn (≤ 10 checks) while one
    label dominates it; no padding (see ``PadTo``). ``cat_max_ratio`` ≥ 1 turns the check off."""

    def __init__(self, size: tuple[int, int], cat_max_ratio: float = 0.75, ignore_index: int = IGNORE_INDEX) -> None:
        self.size, self.cat_max_ratio, self.ignore_index = tuple(size), cat_max_ratio, ignore_index

    def _window(self, height: int, width: int) -> tuple[int, int]:
        top = int(torch.randint(0, max(height - self.size[0], 0) + 1, ()))
        left = int(torch.randint(0, max(width - self.size[1], 0) + 1, ()))
        return top, left

    def _balanced(self, mask: torch.Tensor, top: int, left: int) -> bool:
        window = mask[top : top + self.size[0], left : left + self.size[1]]
        counts = torch.bincount(window[window != self.ignore_index].flatten().long())
        counts = counts[counts > 0]
        return len(counts) > 1 and float(counts.max()) / float(counts.sum()) < self.cat_max_ratio

    def __call__(self, sample: dict) -> dict:
        height, width = sample["image"].shape[-2:]
        top, left = self._window(height, width)
        if self.cat_max_ratio < 1 and sample.get("mask") is not None:
            for _ in range(10):
                if self._balanced(sample["mask"], top, left):
                    break
                top, left = self._window(height, width)
        out = dict(sample)
        for key in ("image", "mask"):
            if sample.get(key) is not None:
                out[key] = TF.crop(sample[key], top, left, min(self.size[0], height), min(self.size[1], width))
        return out


class PadTo:
    """Pad a sample at the bottom and right to at least ``size`` (H, W): image with ``0`` (after normalisation: the
    mean colour), mask with 255 (ignored) — mmseg's ``Pad(size, pad_val=0, seg_pad_val=255)``."""

    def __init__(self, size: tuple[int, int], ignore_index: int = IGNORE_INDEX) -> None:
        self.size, self.ignore_index = tuple(size), ignore_index

    def __call__(self, sample: dict) -> dict:
        height, width = sample["image"].shape[-2:]
        bottom, right = max(self.size[0] - height, 0), max(self.size[1] - width, 0)
        if not bottom and not right:
            return sample
        out = dict(sample)
        out["image"] = TF.pad(sample["image"], [0, 0, right, bottom], fill=0)
        if sample.get("mask") is not None:
            out["mask"] = TF.pad(sample["mask"], [0, 0, right, bottom], fill=self.ignore_index)
        return out

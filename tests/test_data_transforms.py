"""Joint transforms keep image and mask aligned; eval is deterministic; DataLoader helpers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision import tv_tensors

from annkit.data import (
    IMAGENET_MEAN,
    denormalize,
    eval_transforms,
    train_transforms,
    voc_palette,
)


def sample_from_mask(mask: np.ndarray) -> dict:
    """A sample whose image is the mask painted in VOC colours, so the mask can be read back off the image."""
    image = torch.from_numpy(voc_palette()[mask]).permute(2, 0, 1)  # (3, H, W)
    return dict(image=tv_tensors.Image(image), mask=tv_tensors.Mask(torch.from_numpy(mask)), name="x")


def mask_from_image(image: torch.Tensor) -> torch.Tensor:
    """Nearest VOC colour (classes 0..20) of each pixel of a normalised image: (H, W) int64."""
    rgb = denormalize(image).permute(1, 2, 0).reshape(-1, 1, 3).float()  # (H·W, 1, 3)
    colours = torch.from_numpy(voc_palette()[:21]).float()[None]  # (1, 21, 3)
    return (rgb - colours).norm(dim=-1).argmin(1).view(image.shape[-2:])


def blocky_mask(height: int = 96, width: int = 128) -> np.ndarray:
    coarse = np.random.default_rng(0).integers(0, 21, (height // 16, width // 16)).astype(np.uint8)
    return np.kron(coarse, np.ones((16, 16), dtype=np.uint8))


@pytest.mark.parametrize("seed", range(6))
def test_train_transforms_keep_image_and_mask_aligned(seed: int) -> None:
    torch.manual_seed(seed)
    out = train_transforms(crop_size=80, scale_target=(128, 96), photometric=False)(sample_from_mask(blocky_mask()))
    image, mask = out["image"], out["mask"]  # scale 0.5–2 of the 128×96 image, then crop 80 and flip
    assert image.shape == (3, 80, 80) and image.dtype == torch.float32
    assert mask.shape == (80, 80) and mask.dtype == torch.int64 and out["name"] == "x"
    # away from label edges (where resampling blends colours) the image's colour must name the mask's label
    neighbours = torch.nn.functional.unfold(mask[None, None].float(), 5, padding=2)[0]  # (25, H·W)
    interior = ((neighbours == mask.flatten()).all(0).view(80, 80)) & (mask != 255)
    assert (mask_from_image(image)[interior] == mask[interior]).float().mean() > 0.99
    padded = mask == 255  # padding: mean colour in the image, 255 in the mask
    if padded.any():
        assert image[:, padded].abs().max() < 0.02


@pytest.mark.parametrize("seed", range(4))
def test_crop_and_flip_alone_align_exactly(seed: int) -> None:
    torch.manual_seed(seed)
    out = train_transforms(crop_size=64, scale_range=None, photometric=False)(sample_from_mask(blocky_mask()))
    assert torch.equal(mask_from_image(out["image"]), out["mask"])


def test_padding_uses_mean_colour_and_ignore_label() -> None:
    out = train_transforms(crop_size=64, scale_range=None, flip=False, photometric=False)(
        sample_from_mask(blocky_mask(32, 48))
    )
    assert out["mask"].shape == (64, 64) and (out["mask"] == 255).float().mean() == 1 - 32 * 48 / 64**2
    padded = denormalize(out["image"])[:, out["mask"] == 255]  # (3, P)
    assert torch.equal(
        padded.unique(dim=1).flatten(), torch.tensor([round(255 * m) for m in IMAGENET_MEAN], dtype=torch.uint8)
    )


def test_photometric_distortion_changes_image_not_mask() -> None:
    torch.manual_seed(0)
    sample = sample_from_mask(blocky_mask())
    plain = eval_transforms()(sample)
    jittered = [train_transforms(crop_size=None, scale_range=None, flip=False)(sample) for _ in range(8)]
    assert any(not torch.allclose(j["image"], plain["image"]) for j in jittered)
    assert all(torch.equal(j["mask"], plain["mask"]) for j in jittered)


def test_eval_transforms_are_deterministic_and_invertible() -> None:
    sample = sample_from_mask(blocky_mask())
    first, second = eval_transforms()(sample), eval_transforms()(sample)
    assert torch.equal(first["image"], second["image"])
    assert torch.equal(denormalize(first["image"]), sample["image"].as_subclass(torch.Tensor))
    assert torch.equal(first["mask"], sample["mask"].long())


def test_scale_range_rescales_short_side() -> None:
    sizes = set()
    for seed in range(20):
        torch.manual_seed(seed)
        out = train_transforms(crop_size=None, flip=False, photometric=False, scale_target=(384, 96))(
            sample_from_mask(blocky_mask(96, 128))
        )
        sizes.add(out["mask"].shape[0])
    assert min(sizes) >= 48 and max(sizes) <= 192 and len(sizes) > 5  # short side 96 · U(0.5, 2)
